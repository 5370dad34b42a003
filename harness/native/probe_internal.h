/* Helpers shared between the probe's C files. Not part of the API: never handed to cdef. */
#ifndef PROBE_INTERNAL_H
#define PROBE_INTERNAL_H

/* an AF_PACKET socket (send only) bound to ifname, opened inside the network namespace at
 * netns_path if given (the calling thread returns to its own namespace); fd or -errno */
int probe_open_packet_socket(const char *ifname, const char *netns_path);

#endif
