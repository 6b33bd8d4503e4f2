/* Giving up privileges after start-up (see privdrop.h). libcap-ng does the
 * capability bookkeeping: the order of setgroups/setgid/setuid, keeping or
 * clearing capabilities across the uid change and the ambient and bounding
 * sets are easy to get subtly wrong by hand (tcpdump uses it for the same). */
#include "hepagent/privdrop.h"
#include "hepagent/common.h"

#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int has_effective(unsigned capability)
{
    if (capng_get_caps_process() != 0) return 0;
    return capng_have_capability(CAPNG_EFFECTIVE, capability) == 1;
}

int privdrop_resolve(const privdrop_options_t *o, privdrop_target_t *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->uid = geteuid();
    t->gid = getegid();
    if (!o->user && !o->group) return HA_OK;
    if (o->user) {
        errno = 0;
        const struct passwd *pw = getpwnam(o->user);
        if (!pw) {
            snprintf(err, errlen, "user \"%s\": %s", o->user,
                     errno ? strerror(errno) : "no such user");
            return HA_ENOENT;
        }
        t->uid = pw->pw_uid;
        t->gid = pw->pw_gid;
        snprintf(t->user, sizeof(t->user), "%s", pw->pw_name);
    }
    if (o->group) {
        errno = 0;
        const struct group *gr = getgrnam(o->group);
        if (!gr) {
            snprintf(err, errlen, "group \"%s\": %s", o->group,
                     errno ? strerror(errno) : "no such group");
            return HA_ENOENT;
        }
        t->gid = gr->gr_gid;
    }
    if (t->uid == geteuid() && t->gid == getegid()) return HA_OK; /* already there */
    if (!has_effective(CAP_SETUID) || !has_effective(CAP_SETGID)) {
        snprintf(err, errlen,
                 "switching to user %s needs root (CAP_SETUID and CAP_SETGID); "
                 "hepagent runs as uid %u",
                 o->user ? o->user : "(same)", (unsigned)geteuid());
        return HA_EINVAL;
    }
    if (!o->user) snprintf(t->user, sizeof(t->user), "uid %u", (unsigned)t->uid);
    t->switch_id = 1;
    return HA_OK;
}

int privdrop_check_capture(const char *what, char *err, size_t errlen)
{
    if (has_effective(CAP_NET_RAW)) return HA_OK;
    snprintf(err, errlen,
             "%s: capturing needs the capability CAP_NET_RAW, which hepagent (uid %u) does not "
             "have: start it as root, or give it CAP_NET_RAW and CAP_NET_ADMIN "
             "(systemd: AmbientCapabilities=)",
             what, (unsigned)geteuid());
    return HA_EINVAL;
}

int privdrop_prepare_dir(const privdrop_target_t *t, const char *dir, char *err, size_t errlen)
{
    if (!t->switch_id || !dir || !dir[0]) return HA_OK;
    char path[4096];
    size_t len = strlen(dir);
    if (len >= sizeof(path)) {
        snprintf(err, errlen, "%s: path too long", dir);
        return HA_EINVAL;
    }
    memcpy(path, dir, len + 1);
    /* each component in turn, the last one included */
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0750) == 0) {
            if (chown(path, t->uid, t->gid) != 0) {
                snprintf(err, errlen, "%s: cannot give it to %s: %s", path, t->user,
                         strerror(errno));
                return HA_EIO;
            }
        } else if (errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
            return HA_EIO;
        }
        path[i] = saved;
    }
    return HA_OK;
}

static int verify_dropped(const privdrop_target_t *t, char *err, size_t errlen)
{
    if (capng_get_caps_process() != 0 || capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE) {
        snprintf(err, errlen, "capabilities are still held after dropping them");
        return HA_EIO;
    }
    if (t->switch_id && t->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        snprintf(err, errlen, "uid 0 could be regained after switching to %s", t->user);
        return HA_EIO;
    }
    return HA_OK;
}

int privdrop_apply(const privdrop_target_t *t, char *err, size_t errlen)
{
    /* the bounding set can only be cleared with CAP_SETPCAP: asked before
     * capng_clear empties libcap-ng's view of the process */
    int bounds = has_effective(CAP_SETPCAP);
    capng_clear(CAPNG_SELECT_ALL);
    if (t->switch_id) {
        /* the supplementary groups of the user are kept (initgroups): Debian
         * grants read access to private keys through the ssl-cert group */
        int rc = capng_change_id((int)t->uid, (int)t->gid,
                                 CAPNG_INIT_SUPP_GRP | CAPNG_CLEAR_BOUNDING | CAPNG_CLEAR_AMBIENT);
        if (rc != 0) {
            snprintf(err, errlen, "cannot switch to %s (uid %u, gid %u): libcap-ng error %d (%s)",
                     t->user, (unsigned)t->uid, (unsigned)t->gid, rc, strerror(errno));
            return HA_EIO;
        }
    } else {
        /* not root: clear what the process holds; the bounding set only
         * when it may, else it stays as the parent left it */
        if (capng_apply(bounds ? CAPNG_SELECT_ALL : CAPNG_SELECT_CAPS) != 0 ||
            capng_apply(CAPNG_SELECT_AMBIENT) != 0) {
            snprintf(err, errlen, "cannot drop capabilities: %s", strerror(errno));
            return HA_EIO;
        }
    }
    /* nothing we might ever exec can bring privileges back */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
        return HA_EIO;
    }
    return verify_dropped(t, err, errlen);
}

void privdrop_describe(char *out, size_t outlen)
{
    const struct passwd *pw = getpwuid(getuid());
    char *caps = NULL;
    if (capng_get_caps_process() == 0 && capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
        caps = capng_print_caps_text(CAPNG_PRINT_BUFFER, CAPNG_EFFECTIVE);
    snprintf(out, outlen, "uid %u (%s), gid %u, capabilities: %s", (unsigned)getuid(),
             pw ? pw->pw_name : "?", (unsigned)getgid(), caps ? caps : "none");
    free(caps);
}
