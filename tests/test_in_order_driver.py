"""With VIRTIO_F_IN_ORDER negotiated the driver uses descriptors in ring order (2.7.5:
"starting from offset 0 in the table, and wrapping around at the end of the table"),
issue 16 item 13. The driver model used to reuse the chain freed last first; QEMU 10.0
with in_order=on then failed ("virtqueue_ordered_fill: cannot fill buffer id N")."""
import json

from conftest import BLK, fmt


def _avail_heads(trace, queue=0):
    heads = []
    with open(trace) as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("ev") == "avail" and ev.get("q") == queue:
                heads.append((ev["id"], len(ev["segs"])))
    return heads


def test_split_driver_uses_descriptors_in_ring_order_under_in_order(cli, tmp_path):
    trace = tmp_path / "t.jsonl"
    r = cli("run", "--trace", trace, BLK / "in-order.yaml")
    assert r.returncode == 0, fmt(r)
    heads = _avail_heads(trace)
    assert len(heads) >= 500
    size = 256                                  # the ref device's default queue size
    assert heads[0][0] == 0
    wrong = [(i, a, n, b) for i, ((a, n), (b, _)) in enumerate(zip(heads, heads[1:]))
             if b != (a + n) % size]
    assert not wrong, f"chains not in ring order (index, head, ndesc, next head): {wrong[:5]}"
    assert max(h for h, _ in heads) > size - 4, "the table wrapped around"
