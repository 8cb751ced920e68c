/* stripecat's C shim: one exported function per DPDK static-inline that the
 * Rust side needs on its fast path. No logic lives here: each function is a
 * direct call, so the Rust wrapper owns every decision (and every SAFETY
 * argument). Exported DPDK functions are bound directly and not wrapped. */
#ifndef STRIPECAT_SHIM_H
#define STRIPECAT_SHIM_H

#include <stdint.h>
#include <rte_mbuf.h>

uint16_t sc_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                         struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t sc_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                         struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

struct rte_mbuf *sc_pktmbuf_alloc(struct rte_mempool *mp);
int sc_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                          unsigned int count);
void sc_pktmbuf_free(struct rte_mbuf *m);

void *sc_pktmbuf_mtod(struct rte_mbuf *m);
char *sc_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *sc_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *sc_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int sc_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
uint16_t sc_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t sc_pktmbuf_tailroom(const struct rte_mbuf *m);
uint16_t sc_pktmbuf_data_room_size(struct rte_mempool *mp);
int sc_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
void sc_pktmbuf_reset(struct rte_mbuf *m);

uint16_t sc_mbuf_refcnt_read(const struct rte_mbuf *m);
uint16_t sc_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);

unsigned int sc_lcore_id(void);
int sc_errno(void);
uint64_t sc_rdtsc(void);
void sc_pause(void);

#endif
