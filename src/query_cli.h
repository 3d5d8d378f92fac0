/*
 * query_cli.h -- `ursa query`: SQL over the tables of a store, without a
 * server (query_cli.c).
 */
#ifndef URSA_QUERY_CLI_H
#define URSA_QUERY_CLI_H

/* Runs `ursa query ARGS...` (argv past the verb); returns the exit status. */
int ursa_cmd_query(int argc, char **argv);

#endif
