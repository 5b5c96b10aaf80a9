/*
 * cli.h: what every `retnet` command shares: one way to fail (a line saying what is wrong and
 * what to do, then exit 1), option parsing, number parsing, clocks and file reading.
 */
#ifndef RETNET_CLI_H
#define RETNET_CLI_H

#include "retnet.h"

#include <stdint.h>
#include <stdio.h>

extern const char *cli_cmd; /* "retnet train", for messages */

void cli_die(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* Fails with a message and a hint of what to do next. */
#define FAIL(...) cli_die(__FILE__, __LINE__, __VA_ARGS__)
/* Checks a library call; the library's message says what went wrong. */
#define CHECK(call, hint)                                                                  \
    do {                                                                                   \
        if ((call) != RETNET_OK) FAIL("%s; %s", retnet_errmsg(), hint);                    \
    } while (0)

typedef struct {
    const char *name;   /* "--out" */
    int takes_value;
    const char *value;  /* set when given */
    int given;
} opt;

/* Parses argv against opts; positional arguments go to pos[] (at most npos). --help prints
 * usage() and exits 0. */
void cli_parse(int argc, char **argv, opt *opts, int nopts, const char **pos, int npos,
               void (*usage)(void));
/* The option named `name` of opts (it must exist). */
opt *cli_opt(opt *opts, int nopts, const char *name);
long long cli_int(const char *s, const char *what, long long lo, long long hi);
double cli_double(const char *s, const char *what, double lo, double hi);
double cli_now(void);
/* Reads a whole file (NUL-terminated; *len gets the byte count). Fails with a message. */
char *cli_read_file(const char *path, int64_t *len);
int cli_isatty_stderr(void);
/* Loads a checkpoint, with a config file for one without our metadata (config_path NULL:
 * none). Fails with a message. */
retnet_model *cli_load_model(const char *path, const char *config_path);

/* The directory `path` lies in ("." for a bare name, "/" for "/x") into dir (cap bytes);
 * returns the path's last component (a pointer into path). */
const char *cli_split_path(const char *path, char *dir, size_t cap);

/* Before any work: fails, naming both options, when the output path `out` (given as
 * out_flag) is the file `in` (given as in_flag) under another name, or a .safetensors or
 * .json file directly in `in` where that is a directory (a model's: its weights, config and
 * index): writing it would destroy the input.
 * Either may be NULL or name nothing yet. */
void cli_refuse_same(const char *out, const char *out_flag, const char *in, const char *in_flag);

/* The memory the kernel says a new allocation can have without swapping (MemAvailable of
 * /proc/meminfo), in bytes; -1 where it cannot tell. */
double cli_mem_available(void);

/* A copy of s with the escapes \n, \t, \r and \\ resolved (options such as --stop and
 * --doc-sep: a shell cannot easily pass a newline). Free it. */
char *cli_unescape(const char *s);
/* n bytes as a JSON string, quotes included: valid UTF-8 as it is, each invalid byte as
 * U+FFFD, control characters escaped. */
void cli_json_string(FILE *f, const char *s, int64_t n);
/* The same escaping of the string s into buf, without the quotes (cap bytes, NUL-terminated,
 * cut at a character boundary if it does not fit); returns buf. */
const char *cli_json_escape(char *buf, size_t cap, const char *s);

#endif
