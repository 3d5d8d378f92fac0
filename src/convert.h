/*
 * convert.h -- `ursa convert`: NDJSON file to Parquet file with the same
 * scanner and writer as the server.
 */
#ifndef URSA_CONVERT_H
#define URSA_CONVERT_H

/* Runs the verb with its arguments (after "convert"). Returns the process
 * exit status: 0 done, 1 failed, 2 bad usage. */
int ursa_cmd_convert(int argc, char **argv);

#endif
