// The two jobs of a VLAN sub-interface, for a kernel built without 8021q (the test
// machine's): frames that arrive tagged with VID go up the stack untagged, anything else
// is dropped; every frame that leaves is tagged with VID. The tagging itself is the
// kernel's (bpf_skb_vlan_pop / bpf_skb_vlan_push, the helpers behind the vlan tc action).
//
// Built by tests/net_topologies.rs with clang -target bpf -DVID=N; attached to a veth
// with tc (clsact, direct action): sections "tc/ingress" and "tc/egress".
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#ifndef VID
#error "build with -DVID=<vlan id>"
#endif

// TPIDs are in network byte order in the skb and for the helper; `-target bpf` is the
// host's byte order.
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TPID_8021Q __builtin_bswap16(ETH_P_8021Q)
#else
#define TPID_8021Q ETH_P_8021Q
#endif

static long (*skb_vlan_push)(struct __sk_buff *skb, __be16 proto, __u16 tci) = (void *)BPF_FUNC_skb_vlan_push;
static long (*skb_vlan_pop)(struct __sk_buff *skb) = (void *)BPF_FUNC_skb_vlan_pop;

// The stack moved the tag of a received frame into the skb before tc sees it.
__attribute__((section("tc/ingress"), used)) int untag(struct __sk_buff *skb)
{
    if (!skb->vlan_present || skb->vlan_proto != TPID_8021Q || (skb->vlan_tci & 0x0fff) != VID)
        return TC_ACT_SHOT;
    return skb_vlan_pop(skb) ? TC_ACT_SHOT : TC_ACT_OK;
}

__attribute__((section("tc/egress"), used)) int tag(struct __sk_buff *skb)
{
    return skb_vlan_push(skb, TPID_8021Q, VID) ? TC_ACT_SHOT : TC_ACT_OK;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
