// OpenSSL macros as functions (Swift cannot import function-like macros).
#ifndef CCLOAD_TLS_SHIM_H
#define CCLOAD_TLS_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

static inline long cc_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}
static inline long cc_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long cc_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) {
    return SSL_CTX_set_min_proto_version(ctx, v);
}
static inline long cc_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline long cc_SSL_MODE_partial_moving(void) {
    return SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS;
}
static inline int cc_TLS1_2_VERSION(void) { return TLS1_2_VERSION; }
static inline int cc_SSL_SESS_CACHE_CLIENT_ONLY(void) {
    return SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE;
}
static inline int cc_SSL_SESS_CACHE_SERVER(void) { return SSL_SESS_CACHE_SERVER; }
static inline long cc_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int v) {
    return SSL_CTX_set_max_proto_version(ctx, v);
}
static inline int cc_TLS1_3_VERSION(void) { return TLS1_3_VERSION; }
static inline int cc_SSL_set_app_data(SSL *ssl, void *arg) { return SSL_set_app_data(ssl, arg); }
static inline void *cc_SSL_get_app_data(const SSL *ssl) { return SSL_get_app_data(ssl); }
static inline int cc_SSL_CTX_set_app_data(SSL_CTX *ctx, void *arg) { return SSL_CTX_set_app_data(ctx, arg); }
static inline void *cc_SSL_CTX_get_app_data(const SSL_CTX *ctx) { return SSL_CTX_get_app_data(ctx); }
static inline int cc_ERR_GET_REASON(unsigned long e) { return ERR_GET_REASON(e); }
static inline int cc_ERR_GET_LIB(unsigned long e) { return ERR_GET_LIB(e); }
static inline int cc_ERR_LIB_SSL(void) { return ERR_LIB_SSL; }
static inline int cc_SSL_R_UNEXPECTED_EOF_WHILE_READING(void) { return SSL_R_UNEXPECTED_EOF_WHILE_READING; }
static inline int cc_SSL_R_CERTIFICATE_VERIFY_FAILED(void) { return SSL_R_CERTIFICATE_VERIFY_FAILED; }
static inline long cc_SSL_OP_IGNORE_UNEXPECTED_EOF(void) { return (long)SSL_OP_IGNORE_UNEXPECTED_EOF; }
static inline long cc_SSL_CTX_set_num_tickets(SSL_CTX *ctx, size_t n) { return SSL_CTX_set_num_tickets(ctx, n); }
#endif
