/* What the test and benchmark sinks (hep_sink, bench_sink) share: listening
 * sockets, a stop flag set by SIGTERM/SIGINT, a monotonic clock and the
 * port file the scripts wait for. */
#ifndef HEPAGENT_TESTS_SINK_COMMON_H
#define HEPAGENT_TESTS_SINK_COMMON_H

#include <signal.h>
#include <stdint.h>

extern volatile sig_atomic_t sink_stop;

/* SIGTERM and SIGINT set sink_stop (no SA_RESTART: poll returns EINTR). */
void sink_signals(void);
uint64_t sink_mono_ms(void);

/* A non-blocking socket (SOCK_DGRAM or SOCK_STREAM, listening) bound to
 * ADDR (IPv4 or IPv6):PORT (0: any free port); *bound gets the port.
 * rcvbuf > 0 sets SO_RCVBUF (SO_RCVBUFFORCE first, which as root may exceed
 * rmem_max). Exits with a message naming PROG on any error. */
int sink_listen(const char *prog, int type, const char *addr, int port, int rcvbuf, int *bound);

/* Writes "UDPPORT TCPPORT\n" to PATH through a rename, so a reader never
 * sees half of it. Exits on error. */
void sink_write_ports(const char *prog, const char *path, int udp_port, int tcp_port);

#endif
