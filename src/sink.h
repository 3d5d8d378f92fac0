/*
 * sink.h -- a byte sink: where a streaming producer (the Parquet writer)
 * sends its output. The store's object writers are sinks.
 */
#ifndef URSA_SINK_H
#define URSA_SINK_H

#include "common.h"

typedef struct ursa_sink {
    /* Writes all n bytes or fails. Returns URSA_OK or an error code. */
    int (*write)(void *ctx, const void *p, size_t n, ursa_err_t *err);
    void *ctx;
} ursa_sink_t;

#endif
