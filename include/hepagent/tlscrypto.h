/* The cryptography of passive TLS decryption, all from OpenSSL's EVP layer
 * (no cipher code of ours): the cipher suites we can decrypt, the TLS 1.2
 * key block (EVP_KDF "TLS1-PRF"), the TLS 1.3 traffic keys and key updates
 * (EVP_KDF "TLS13-KDF", HKDF-Expand-Label), and the AEAD decryption of one
 * record with its tag verified (AES-GCM, ChaCha20-Poly1305). Algorithms are
 * fetched once; every secret we derive is wiped after use. */
#ifndef HEPAGENT_TLSCRYPTO_H
#define HEPAGENT_TLSCRYPTO_H

#include <stddef.h>
#include <stdint.h>

enum {
    TLS_VERSION_12 = 0x0303,
    TLS_VERSION_13 = 0x0304,
    TLS_TAG_LEN = 16,  /* every AEAD suite here */
    TLS_HASH_MAX = 48, /* SHA-384 */
    TLS_KEY_MAX = 32,  /* AES-256, ChaCha20 */
    TLS_IV_LEN = 12,   /* the AEAD nonce */
    TLS_RANDOM_LEN = 32,
    TLS_MASTER_LEN = 48,
    TLS_RECORD_HEADER = 5,
    TLS_PLAINTEXT_MAX = 16384,
    TLS_CIPHERTEXT_MAX = 16384 + 2048, /* RFC 5246 6.2.3; TLS 1.3 allows 16384 + 256 */
};

typedef enum {
    TLS_AEAD_AES128_GCM = 0,
    TLS_AEAD_AES256_GCM,
    TLS_AEAD_CHACHA20,
    TLS_AEAD_COUNT
} tls_aead_t;
typedef enum { TLS_HASH_SHA256 = 0, TLS_HASH_SHA384, TLS_HASH_COUNT } tls_hash_t;

typedef struct tls_suite {
    uint16_t id;
    uint16_t version; /* TLS_VERSION_12 or _13 */
    tls_aead_t aead;
    tls_hash_t hash;
    uint8_t key_len;
    uint8_t fixed_iv_len;       /* TLS 1.2: GCM's 4-byte salt, ChaCha20's 12 bytes; TLS 1.3: 12 */
    uint8_t explicit_nonce_len; /* TLS 1.2 GCM: 8 bytes before each record's ciphertext */
    const char *name;
} tls_suite_t;

/* The suite with this id for this version, or NULL when we cannot decrypt it. */
const tls_suite_t *tls_suite_find(uint16_t id, uint16_t version);
/* Bytes of the suite's hash (32 or 48). */
size_t tls_suite_hash_len(const tls_suite_t *s);

/* The algorithms, fetched once. */
typedef struct tls_crypto tls_crypto_t;
tls_crypto_t *tls_crypto_new(void);
void tls_crypto_free(tls_crypto_t *c);

/* One direction's record protection. */
typedef struct tls_cipher {
    void *ctx; /* EVP_CIPHER_CTX */
    const tls_suite_t *suite;
    uint8_t iv[TLS_IV_LEN];
    uint64_t seq;
} tls_cipher_t;

/* TLS 1.2: derives both directions' keys from the master secret. */
int tls12_set_keys(tls_crypto_t *c, const tls_suite_t *s, const uint8_t master[TLS_MASTER_LEN],
                   const uint8_t client_random[TLS_RANDOM_LEN],
                   const uint8_t server_random[TLS_RANDOM_LEN], tls_cipher_t *client,
                   tls_cipher_t *server);
/* TLS 1.3: keys of a traffic secret (hash length bytes). */
int tls13_set_keys(tls_crypto_t *c, const tls_suite_t *s, const uint8_t *secret,
                   tls_cipher_t *cipher);
/* TLS 1.3 KeyUpdate: secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length),
 * in place. */
int tls13_next_secret(tls_crypto_t *c, const tls_suite_t *s, uint8_t *secret);
/* Frees the cipher context and wipes the keys. */
void tls_cipher_clear(tls_cipher_t *cipher);

/* Decrypts one record (header + fragment) into out (TLS_CIPHERTEXT_MAX
 * bytes) and verifies its tag; the sequence number advances on success.
 * Returns the plaintext length (for TLS 1.3 with the content type and
 * padding still at its end), or -1 when the tag does not verify (nothing in
 * out may be used) or the record is too short to hold a tag. */
int tls_decrypt_record(tls_cipher_t *cipher, const uint8_t *record, size_t len, uint8_t *out);

#endif
