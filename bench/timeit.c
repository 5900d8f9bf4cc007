// timeit: runs commands and measures them the way hyperfine -N does (fork + execvp + wait4, no
// shell), so that the harness (bench.ts) can alternate runtimes run by run and keep its own
// start-up out of the numbers.
//
//   timeit [-e ERRFILE] [-T] seq|par -- CMD ARGS... [-- CMD ARGS...]...
//
// seq runs the commands one after another, par starts them all at once and waits for every one.
// Each command gets stdin and stdout on /dev/null and stderr appended to ERRFILE (default
// /dev/null). -T sets TSRUNC_TRACE_TIMING to the wall clock (ns since the epoch) right before each
// exec. Prints one line on stdout:
//   <total_ns> <ns_1>:<maxrss_kb_1>:<status_1>:<cpu_us_1> <ns_2>:... ...
// where status is the exit code, or 128+signal, and cpu_us the user + system CPU time of the
// command and the children it reaped (wait4's rusage). Exits 0 when it could run everything.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXCMDS 256

static int64_t now_ns(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *errfile = "/dev/null";
static int trace = 0;

static pid_t launch(char **argv) {
  pid_t pid = fork();
  if (pid < 0) {
    perror("timeit: fork");
    exit(2);
  }
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    int out = open("/dev/null", O_WRONLY);
    int err = open(errfile, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    if (trace) {
      char buf[32];
      snprintf(buf, sizeof buf, "%lld", (long long)now_ns(CLOCK_REALTIME));
      setenv("TSRUNC_TRACE_TIMING", buf, 1);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static long long cpu_us(const struct rusage *ru) {
  return (long long)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000LL + ru->ru_utime.tv_usec + ru->ru_stime.tv_usec;
}

static int status_of(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "-e") && i + 1 < argc) errfile = argv[++i];
    else if (!strcmp(argv[i], "-T")) trace = 1;
    else break;
  }
  if (i + 1 >= argc || (strcmp(argv[i], "seq") && strcmp(argv[i], "par")) || strcmp(argv[i + 1], "--")) {
    fprintf(stderr, "usage: timeit [-e ERRFILE] [-T] seq|par -- CMD ARGS... [-- CMD ARGS...]...\n");
    return 2;
  }
  int par = !strcmp(argv[i], "par");
  char **cmds[MAXCMDS];
  int n = 0;
  for (int j = i + 1; j < argc; j++) {
    if (!strcmp(argv[j], "--")) {
      argv[j] = NULL;
      if (j + 1 < argc) {
        if (n == MAXCMDS) {
          fprintf(stderr, "timeit: too many commands\n");
          return 2;
        }
        cmds[n++] = &argv[j + 1];
      }
    }
  }
  int64_t t_start[MAXCMDS], t_end[MAXCMDS];
  long rss[MAXCMDS];
  long long cpu[MAXCMDS];
  int status[MAXCMDS];
  pid_t pids[MAXCMDS];
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  if (!par) {
    for (int k = 0; k < n; k++) {
      struct rusage ru;
      int st;
      t_start[k] = now_ns(CLOCK_MONOTONIC);
      pid_t p = launch(cmds[k]);
      while (wait4(p, &st, 0, &ru) < 0) {
        if (errno != EINTR) {
          perror("timeit: wait4");
          return 2;
        }
      }
      t_end[k] = now_ns(CLOCK_MONOTONIC);
      rss[k] = ru.ru_maxrss;
      cpu[k] = cpu_us(&ru);
      status[k] = status_of(st);
    }
  } else {
    for (int k = 0; k < n; k++) {
      t_start[k] = now_ns(CLOCK_MONOTONIC);
      pids[k] = launch(cmds[k]);
    }
    for (int left = n; left > 0;) {
      struct rusage ru;
      int st;
      pid_t p = wait4(-1, &st, 0, &ru);
      if (p < 0) {
        if (errno == EINTR) continue;
        perror("timeit: wait4");
        return 2;
      }
      for (int k = 0; k < n; k++) {
        if (pids[k] == p) {
          t_end[k] = now_ns(CLOCK_MONOTONIC);
          rss[k] = ru.ru_maxrss;
          cpu[k] = cpu_us(&ru);
          status[k] = status_of(st);
          left--;
        }
      }
    }
  }
  int64_t total = now_ns(CLOCK_MONOTONIC) - t0;
  printf("%lld", (long long)total);
  for (int k = 0; k < n; k++) printf(" %lld:%ld:%d:%lld", (long long)(t_end[k] - t_start[k]), rss[k], status[k], cpu[k]);
  printf("\n");
  return 0;
}
