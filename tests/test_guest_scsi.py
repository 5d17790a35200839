"""--backend guest for scsi (issue 14): Linux 6.1's virtio_scsi in the test guest drives the
reference scsi device behind QEMU 7.2's vhost-user-scsi-pci, judged in the driver role
(suite linux-scsi-driver, its hot-plug scenario an expected Linux finding).

The guest image is build/guest/linux-6.1 (`make guest`; `make check` builds it first); a
missing image fails with the command that builds it. Budget: eight boots of 3.5-5 s each on
a quiet machine, one of them waiting 10 s for a LUN Linux names differently."""
import json

from conftest import BUILD, SCENARIOS

IMAGE = BUILD / "guest" / "linux-6.1"


def _verdicts(out):
    return {m.split()[2]: m.split()[1] for m in out.splitlines() if m.startswith("[")}


def test_linux_scsi_driver_suite(cli, tmp_path):
    missing = [f for f in ("vmlinux", "initramfs.cpio", "release", "modules-scsi.order")
               if not (IMAGE / f).is_file()]
    assert not missing, f"{IMAGE} lacks {missing}: run `make guest` (make check does)"
    order = (IMAGE / "modules-scsi.order").read_text().split()
    # dependencies first: virtio_scsi needs scsi_mod, sd_mod needs scsi_mod too
    assert order.index("scsi_mod") < order.index("virtio_scsi") < order.index("sd_mod")
    rep = tmp_path / "rep"
    r = cli("suite", "linux-scsi-driver", "--backend", "guest", "--kernel", IMAGE, "--report",
            rep, "--expected", SCENARIOS / "expected" / "linux-6.1.yaml", timeout=400)
    v = _verdicts(r.stdout)
    # the hot-added LUN 1 becomes 0:0:0:16385 (linux-6.1.yaml says why): expected, and the
    # failure is Linux's, reported as it happened
    assert v.pop("linux-scsi-hotplug") == "XFAIL", r.stdout + r.stderr
    assert "0:0:0:16385" in r.stdout, r.stdout
    assert len(v) == 7 and set(v.values()) == {"PASS"}, r.stdout + r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((rep / "results.json").read_text())
    text = json.dumps(doc)
    assert "Linux 6.1" in text    # the report names the kernel that was judged
    # the driver-role statements Linux was judged on, passed (the LUN limits among them)
    st = {s["id"]: s["verdict"] for s in doc["statements"]}
    assert st.get("scsi.driver.config-layout.3") == "pass", st.get("scsi.driver.config-layout.3")
