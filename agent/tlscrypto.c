/* TLS record cryptography from OpenSSL EVP; see tlscrypto.h. */
#include "hepagent/tlscrypto.h"
#include "hepagent/common.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <string.h>

static const tls_suite_t tls_suites[] = {
    /* TLS 1.3 (RFC 8446 B.4) */
    {0x1301, TLS_VERSION_13, TLS_AEAD_AES128_GCM, TLS_HASH_SHA256, 16, 12, 0,
     "TLS_AES_128_GCM_SHA256"},
    {0x1302, TLS_VERSION_13, TLS_AEAD_AES256_GCM, TLS_HASH_SHA384, 32, 12, 0,
     "TLS_AES_256_GCM_SHA384"},
    {0x1303, TLS_VERSION_13, TLS_AEAD_CHACHA20, TLS_HASH_SHA256, 32, 12, 0,
     "TLS_CHACHA20_POLY1305_SHA256"},
    /* TLS 1.2 AES-GCM (RFC 5288, 5289) */
    {0x009c, TLS_VERSION_12, TLS_AEAD_AES128_GCM, TLS_HASH_SHA256, 16, 4, 8, "AES128-GCM-SHA256"},
    {0x009d, TLS_VERSION_12, TLS_AEAD_AES256_GCM, TLS_HASH_SHA384, 32, 4, 8, "AES256-GCM-SHA384"},
    {0x009e, TLS_VERSION_12, TLS_AEAD_AES128_GCM, TLS_HASH_SHA256, 16, 4, 8,
     "DHE-RSA-AES128-GCM-SHA256"},
    {0x009f, TLS_VERSION_12, TLS_AEAD_AES256_GCM, TLS_HASH_SHA384, 32, 4, 8,
     "DHE-RSA-AES256-GCM-SHA384"},
    {0xc02b, TLS_VERSION_12, TLS_AEAD_AES128_GCM, TLS_HASH_SHA256, 16, 4, 8,
     "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {0xc02c, TLS_VERSION_12, TLS_AEAD_AES256_GCM, TLS_HASH_SHA384, 32, 4, 8,
     "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {0xc02f, TLS_VERSION_12, TLS_AEAD_AES128_GCM, TLS_HASH_SHA256, 16, 4, 8,
     "ECDHE-RSA-AES128-GCM-SHA256"},
    {0xc030, TLS_VERSION_12, TLS_AEAD_AES256_GCM, TLS_HASH_SHA384, 32, 4, 8,
     "ECDHE-RSA-AES256-GCM-SHA384"},
    /* TLS 1.2 ChaCha20-Poly1305 (RFC 7905) */
    {0xcca8, TLS_VERSION_12, TLS_AEAD_CHACHA20, TLS_HASH_SHA256, 32, 12, 0,
     "ECDHE-RSA-CHACHA20-POLY1305"},
    {0xcca9, TLS_VERSION_12, TLS_AEAD_CHACHA20, TLS_HASH_SHA256, 32, 12, 0,
     "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {0xccaa, TLS_VERSION_12, TLS_AEAD_CHACHA20, TLS_HASH_SHA256, 32, 12, 0,
     "DHE-RSA-CHACHA20-POLY1305"},
};

const tls_suite_t *tls_suite_find(uint16_t id, uint16_t version)
{
    for (size_t i = 0; i < HA_ARRAY_LEN(tls_suites); i++)
        if (tls_suites[i].id == id && tls_suites[i].version == version) return &tls_suites[i];
    return NULL;
}

size_t tls_suite_hash_len(const tls_suite_t *s)
{
    return s->hash == TLS_HASH_SHA384 ? 48 : 32;
}

struct tls_crypto {
    EVP_CIPHER *cipher[TLS_AEAD_COUNT];
    EVP_KDF *prf;  /* TLS1-PRF */
    EVP_KDF *hkdf; /* TLS13-KDF: HKDF-Expand-Label */
};

static const char *const tls_digest_names[TLS_HASH_COUNT] = {"SHA256", "SHA384"};

tls_crypto_t *tls_crypto_new(void)
{
    tls_crypto_t *c = OPENSSL_zalloc(sizeof(*c));
    if (!c) return NULL;
    static const char *const names[TLS_AEAD_COUNT] = {"AES-128-GCM", "AES-256-GCM",
                                                      "ChaCha20-Poly1305"};
    for (int i = 0; i < TLS_AEAD_COUNT; i++)
        c->cipher[i] = EVP_CIPHER_fetch(NULL, names[i], NULL);
    c->prf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
    c->hkdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
    for (int i = 0; i < TLS_AEAD_COUNT; i++)
        if (!c->cipher[i]) goto fail;
    if (!c->prf || !c->hkdf) goto fail;
    return c;
fail:
    tls_crypto_free(c);
    return NULL;
}

void tls_crypto_free(tls_crypto_t *c)
{
    if (!c) return;
    for (int i = 0; i < TLS_AEAD_COUNT; i++)
        EVP_CIPHER_free(c->cipher[i]);
    EVP_KDF_free(c->prf);
    EVP_KDF_free(c->hkdf);
    OPENSSL_free(c);
}

void tls_cipher_clear(tls_cipher_t *cipher)
{
    EVP_CIPHER_CTX_free(cipher->ctx); /* wipes the expanded key */
    OPENSSL_cleanse(cipher, sizeof(*cipher));
}

static int cipher_init(tls_crypto_t *c, const tls_suite_t *s, const uint8_t *key, const uint8_t *iv,
                       tls_cipher_t *cipher)
{
    if (!cipher->ctx) cipher->ctx = EVP_CIPHER_CTX_new();
    if (!cipher->ctx) return HA_ENOMEM;
    if (EVP_DecryptInit_ex(cipher->ctx, c->cipher[s->aead], NULL, key, NULL) != 1) return HA_EINVAL;
    cipher->suite = s;
    memset(cipher->iv, 0, sizeof(cipher->iv));
    memcpy(cipher->iv, iv, s->fixed_iv_len);
    cipher->seq = 0;
    return HA_OK;
}

int tls12_set_keys(tls_crypto_t *c, const tls_suite_t *s, const uint8_t master[TLS_MASTER_LEN],
                   const uint8_t client_random[TLS_RANDOM_LEN],
                   const uint8_t server_random[TLS_RANDOM_LEN], tls_cipher_t *client,
                   tls_cipher_t *server)
{
    /* key_block = PRF(master_secret, "key expansion", server_random + client_random),
     * cut into client and server write keys, then client and server IVs
     * (RFC 5246 6.3; AEAD suites have no MAC keys) */
    static const char label[] = "key expansion";
    uint8_t seed[sizeof(label) - 1 + 2 * TLS_RANDOM_LEN];
    memcpy(seed, label, sizeof(label) - 1);
    memcpy(seed + sizeof(label) - 1, server_random, TLS_RANDOM_LEN);
    memcpy(seed + sizeof(label) - 1 + TLS_RANDOM_LEN, client_random, TLS_RANDOM_LEN);
    uint8_t block[2 * (TLS_KEY_MAX + TLS_IV_LEN)];
    size_t need = 2u * (s->key_len + s->fixed_iv_len);
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(c->prf);
    if (!kctx) return HA_ENOMEM;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)tls_digest_names[s->hash],
                                         0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)master, TLS_MASTER_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed)),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(kctx, block, need, params) == 1;
    EVP_KDF_CTX_free(kctx);
    const uint8_t *p = block;
    const uint8_t *ckey = p, *skey = p + s->key_len;
    const uint8_t *civ = skey + s->key_len, *siv = civ + s->fixed_iv_len;
    if (ok)
        ok = cipher_init(c, s, ckey, civ, client) == HA_OK &&
             cipher_init(c, s, skey, siv, server) == HA_OK;
    OPENSSL_cleanse(block, sizeof(block));
    return ok ? HA_OK : HA_EINVAL;
}

/* HKDF-Expand-Label(secret, label, "", len) (RFC 8446 7.1). */
static int expand_label(tls_crypto_t *c, const tls_suite_t *s, const uint8_t *secret,
                        const char *label, uint8_t *out, size_t len)
{
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(c->hkdf);
    if (!kctx) return HA_ENOMEM;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)tls_digest_names[s->hash],
                                         0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret,
                                          tls_suite_hash_len(s)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, (void *)"tls13 ", 6),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)label, strlen(label)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, (void *)"", 0),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(kctx, out, len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    return ok ? HA_OK : HA_EINVAL;
}

int tls13_set_keys(tls_crypto_t *c, const tls_suite_t *s, const uint8_t *secret,
                   tls_cipher_t *cipher)
{
    uint8_t key[TLS_KEY_MAX], iv[TLS_IV_LEN];
    int rc = expand_label(c, s, secret, "key", key, s->key_len);
    if (rc == HA_OK) rc = expand_label(c, s, secret, "iv", iv, TLS_IV_LEN);
    if (rc == HA_OK) rc = cipher_init(c, s, key, iv, cipher);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(iv, sizeof(iv));
    return rc;
}

int tls13_next_secret(tls_crypto_t *c, const tls_suite_t *s, uint8_t *secret)
{
    uint8_t next[TLS_HASH_MAX];
    size_t n = tls_suite_hash_len(s);
    int rc = expand_label(c, s, secret, "traffic upd", next, n);
    if (rc == HA_OK) memcpy(secret, next, n);
    OPENSSL_cleanse(next, sizeof(next));
    return rc;
}

int tls_decrypt_record(tls_cipher_t *cipher, const uint8_t *record, size_t len, uint8_t *out)
{
    const tls_suite_t *s = cipher->suite;
    if (!s || len < TLS_RECORD_HEADER) return -1;
    const uint8_t *body = record + TLS_RECORD_HEADER;
    size_t body_len = len - TLS_RECORD_HEADER;
    if (body_len < (size_t)s->explicit_nonce_len + TLS_TAG_LEN) return -1;
    size_t ct_len = body_len - s->explicit_nonce_len - TLS_TAG_LEN;
    uint8_t nonce[TLS_IV_LEN], aad[13];
    size_t aad_len;
    memcpy(nonce, cipher->iv, TLS_IV_LEN);
    if (s->explicit_nonce_len) {
        /* TLS 1.2 GCM: salt || explicit nonce from the record (RFC 5288 3) */
        memcpy(nonce + s->fixed_iv_len, body, s->explicit_nonce_len);
    } else {
        /* ChaCha20 (RFC 7905 2) and TLS 1.3 (RFC 8446 5.3): iv XOR padded seq */
        for (int i = 0; i < 8; i++)
            nonce[TLS_IV_LEN - 1 - i] ^= (uint8_t)(cipher->seq >> (8 * i));
    }
    if (s->version == TLS_VERSION_13) {
        memcpy(aad, record, TLS_RECORD_HEADER); /* the record header as sent */
        aad_len = TLS_RECORD_HEADER;
    } else {
        /* seq_num + type + version + length of the plaintext (RFC 5246 6.2.3.3) */
        for (int i = 0; i < 8; i++)
            aad[i] = (uint8_t)(cipher->seq >> (56 - 8 * i));
        aad[8] = record[0];
        aad[9] = record[1];
        aad[10] = record[2];
        put_be16(aad + 11, (uint16_t)ct_len);
        aad_len = 13;
    }
    EVP_CIPHER_CTX *ctx = cipher->ctx;
    int outl = 0, finl = 0;
    const uint8_t *ct = body + s->explicit_nonce_len;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1 ||
        EVP_DecryptUpdate(ctx, out, &outl, ct, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TLS_TAG_LEN, (void *)(ct + ct_len)) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + outl, &finl) != 1)
        return -1;
    cipher->seq++;
    return outl + finl;
}
