//! The header parser on arbitrary bytes: never panics, and whatever parses re-emits
//! and parses again to the same meaning.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stripecat_proto::wire::{Frame, Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else { return };
    let _ = packet.verify_checksum();
    let Ok(repr) = Repr::parse(&packet) else { return };
    let payload: &[u8] = if repr.frame == Frame::Data { packet.payload() } else { &[] };
    let mut out = vec![0u8; repr.buffer_len() + payload.len()];
    let n = repr.emit(&mut out, payload);
    out[n..].copy_from_slice(payload);
    let again = Repr::parse(&Packet::new_checked(&out[..]).expect("re-emitted packet has its length"))
        .expect("re-emitted packet parses");
    assert_eq!(again, repr);
});
