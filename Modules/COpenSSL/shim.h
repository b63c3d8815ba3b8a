#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Option bits are spelled through a function-like macro (SSL_OP_BIT) that Swift cannot import. */
static inline uint64_t iot_tls_server_options(void) {
    return SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
}

/* Drains OpenSSL's thread-local error queue into `buffer` as one line, the reasons joined by "; " (empty when there
   were none; cut at `size`). Shared by every module that reports OpenSSL failures. */
static inline void iot_openssl_errors(char *buffer, size_t size) {
    size_t used = 0;
    unsigned long code;
    if (size == 0) return;
    buffer[0] = 0;
    while ((code = ERR_get_error()) != 0) {
        char reason[256];
        int written;
        if (used >= size - 1) continue;   /* full: keep draining */
        ERR_error_string_n(code, reason, sizeof reason);
        written = snprintf(buffer + used, size - used, "%s%s", used ? "; " : "", reason);
        used = (written < 0 || (size_t)written >= size - used) ? size - 1 : used + (size_t)written;
    }
}
