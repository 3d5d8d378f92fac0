/*
 * compact_cli.h -- the `ursa compact` command (compact_cli.c).
 */
#ifndef URSA_COMPACT_CLI_H
#define URSA_COMPACT_CLI_H

/* Runs `ursa compact ARGS...` (argv past the verb); returns the exit status. */
int ursa_cmd_compact(int argc, char **argv);

#endif
