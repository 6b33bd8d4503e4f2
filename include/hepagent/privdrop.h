/* Giving up privileges once everything that needs them is open: started as
 * root (or as any user holding CAP_NET_RAW + CAP_NET_ADMIN), hepagent opens its
 * capture handles and listening sockets, then becomes agent.user/agent.group
 * (-Z) and drops every capability (libcap-ng). What a reload does later (read
 * the config, TLS files, spool directories) is done as that user. */
#ifndef HEPAGENT_PRIVDROP_H
#define HEPAGENT_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

typedef struct privdrop_options {
    const char *user;  /* NULL: stay who we are; "root" too (as tcpdump -Z root) */
    const char *group; /* NULL: the user's primary group */
} privdrop_options_t;

/* Who to become, resolved before anything is opened (so a typo in the user
 * name fails before capture starts). */
typedef struct privdrop_target {
    int switch_id; /* 1: change uid/gid (started as root) */
    uid_t uid;
    gid_t gid;
    char user[64];
} privdrop_target_t;

/* Resolves the options against the running process. Fails (with a message
 * naming what is missing) for an unknown user or group, or a switch to another
 * user that the process has no right to make. */
int privdrop_resolve(const privdrop_options_t *o, privdrop_target_t *t, char *err, size_t errlen);

/* Live capture and raw sockets need CAP_NET_RAW in the effective set;
 * what names the source in the message ("interface eth0"). */
int privdrop_check_capture(const char *what, char *err, size_t errlen);

/* Creates dir and its missing parents (0750); those it creates are given to
 * the target user, so a spool directory under a root-owned path is writable
 * after the drop. An existing directory is left as it is. */
int privdrop_prepare_dir(const privdrop_target_t *t, const char *dir, char *err, size_t errlen);

/* Switches to the target user (when t->switch_id) and clears every
 * capability set: effective, permitted, inheritable, ambient and, when the
 * process may, the bounding set; then sets no_new_privs. Verifies the result
 * (no capability left, uid 0 cannot be regained). */
int privdrop_apply(const privdrop_target_t *t, char *err, size_t errlen);

/* One line for the log: "uid 998 (hepagent), gid 998, capabilities: none". */
void privdrop_describe(char *out, size_t outlen);

#endif
