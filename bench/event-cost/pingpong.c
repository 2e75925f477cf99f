// One-byte TCP ping-pong between two processes over loopback, for the per-event cost of
// tracing (scripts/bench-event-cost.sh): each round trip is 2 send + 2 recv syscalls, 2
// blocking sleeps and 2 wakeups. Prints the round trips per second of a fixed-length run.
//   pingpong SECONDS          (run inside a network namespace: it listens on 127.0.0.1)
//   pingpong --getppid SECONDS  (a null-syscall loop instead: getppid() calls per second)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--getppid") == 0) {
    double secs = atof(argv[2]), start = now();
    long n = 0;
    while (now() - start < secs) {
      for (int i = 0; i < 1000; i++) syscall(SYS_getppid);
      n += 1000;
    }
    printf("%.0f\n", n / (now() - start));
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: pingpong SECONDS | pingpong --getppid SECONDS\n");
    return 2;
  }
  double secs = atof(argv[1]);
  int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1) ||
      getsockname(lfd, (struct sockaddr *)&a, &len))
    die("listen");
  pid_t child = fork();
  if (child == 0) {
    int c = accept(lfd, NULL, NULL);
    char b;
    if (c < 0) die("accept");
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    while (recv(c, &b, 1, 0) == 1 && send(c, &b, 1, 0) == 1) {
    }
    _exit(0);
  }
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) die("connect");
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char b = 'x';
  long n = 0;
  double start = now();
  while (now() - start < secs) {
    for (int i = 0; i < 100; i++)
      if (send(s, &b, 1, 0) != 1 || recv(s, &b, 1, 0) != 1) die("ping");
    n += 100;
  }
  double rate = n / (now() - start);
  close(s);
  waitpid(child, NULL, 0);
  printf("%.0f\n", rate);
  return 0;
}
