"""report.html as a certification reviewer sees it: rendered by headless Chromium and
checked on the screenshot (the verdict bar is red exactly when something failed, green
otherwise; the headline's fail cells are red when a statement failed) and on the DOM
(device identity, headline per role and level, failures first, the unmonitored role folded
away, time labelled per back-end, no_check explained, readable without JavaScript).

Chromium and python3-pil come from `make deps` (tools/deps.sh), which `make check` runs
first; a missing one fails the test, never skips it.
"""
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import BLK, fmt, write_scenario

X = "{http://www.w3.org/1999/xhtml}"
RED = (0xc6, 0x28, 0x28)      # #c62828: the failure colour of the verdict bar and cells
GREEN = (0x2e, 0x7d, 0x32)    # #2e7d32: the verdict bar of a run without failures


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    pytest.fail("chromium is missing: `make deps` (tools/deps.sh) installs it")


def browse(tmp_path, page, *extra):
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *extra]
    return base, page.as_uri()


def screenshot(tmp_path, page, name):
    from PIL import Image
    base, uri = browse(tmp_path, page)
    png = tmp_path / f"{name}.png"
    r = subprocess.run(base + [f"--screenshot={png}", "--window-size=1280,2400", uri],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and png.is_file(), r.stderr[-2000:]
    return Image.open(png).convert("RGB")


def dump_dom(tmp_path, page):
    base, uri = browse(tmp_path, page)
    r = subprocess.run(base + ["--dump-dom", uri], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def near(p, c, tol=3):
    return all(abs(a - b) <= tol for a, b in zip(p, c))


def colour_rows(img, colour):
    """Per pixel row, how many pixels have the colour."""
    w, h = img.size
    px = img.load()
    return [sum(1 for x in range(0, w, 2) if near(px[x, y], colour)) * 2 for y in range(h)]


def band(rows, width):
    """Rows at least half covered by the colour (a full-width bar)."""
    return [y for y, n in enumerate(rows) if n >= width // 2]


def check_picture(img, failed, statement_failed):
    w, _ = img.size
    top = img.crop((0, 0, w, 400))
    assert len(set(top.getdata())) > 50, "the header and verdict region is blank"
    red, green = colour_rows(img, RED), colour_rows(img, GREEN)
    rb, gb = band(red, w), band(green, w)
    if failed:
        assert len(rb) >= 20 and not gb, (len(rb), len(gb))       # a red verdict bar
        assert min(rb) < 400                                       # at the top of the page
    else:
        assert len(gb) >= 20 and not rb, (len(rb), len(gb))
        assert sum(red) == 0, "the failure colour appears in a run without failures"
    # below the bar: red cells in the headline when a statement failed
    below = sum(n for y, n in enumerate(red) if y > (max(rb) if rb else 0) + 5)
    assert (below > 0) == statement_failed or (failed and not statement_failed), below
    if statement_failed:
        assert below > 100


def parse(page):
    return ET.parse(page).getroot()


def by_id(root, i):
    return next(e for e in root.iter() if e.get("id") == i)


def text(e):
    return "".join(e.itertext())


def check_dom(root, clock):
    verdict = by_id(root, "verdict")
    dev = by_id(root, "device")
    rows = {text(tr.find(X + "th")): tr for tr in dev.iter(X + "tr") if tr.find(X + "th") is
            not None}
    assert clock in text(rows["times"])
    assert "virtio device ID 2" in text(rows["device type"])
    # headline: the four role and level groups, counts adding up
    head = by_id(root, "headline")
    table = head.find(X + "table")
    groups = {}
    for tr in table.find(X + "tbody").findall(X + "tr"):
        cells = [text(td) for td in tr.findall(X + "td")]
        groups[text(tr.find(X + "th")).split("role not")[0]] = cells
        nums = [int(c) for c in cells[:8]]
        assert nums[0] == sum(nums[1:8]), cells
    assert set(groups) == {"device-role MUST", "device-role SHOULD", "driver-role MUST",
                           "driver-role SHOULD"}
    # failures come before the scenario list and the matrix
    order = [e.get("id") for e in root.iter() if e.get("id") in
             ("device", "headline", "failures", "legend", "scenarios", "matrix")]
    assert order == ["device", "headline", "failures", "legend", "scenarios", "matrix"], order
    # the driver role was not monitored: folded away; the device role is not
    folded = [d for d in root.iter(X + "details")]
    assert len(folded) == 1 and folded[0].get("open") is None
    assert by_id(folded[0], "matrix-driver") is not None
    assert all(e.get("id") != "matrix-device" for e in folded[0].iter())
    assert "no check in virtiosim yet" in text(root)
    assert "virtiosim has no check" in text(by_id(root, "legend"))
    scn_head = [text(th) for th in by_id(root, "scenarios").iter(X + "th")]
    scn_table = next(t for t in root.iter(X + "table") if "seed" in
                     [text(th) for th in t.iter(X + "th")])
    assert clock + " time" in [text(th) for th in scn_table.iter(X + "th")], scn_head
    return text(verdict), rows


def test_passing_run_is_green(cli, tmp_path):
    out = tmp_path / "pass"
    r = cli("run", BLK / "rw-basic.yaml", "--report", out)
    assert r.returncode == 0, fmt(r)
    page = out / "report.html"
    check_picture(screenshot(tmp_path, page, "pass"), failed=False, statement_failed=False)
    v, rows = check_dom(parse(page), "virtual")
    assert v.startswith("PASS")
    assert "None: 6 device-level statements passed." in text(parse(page))
    # scripts on: the filters show and the title says the script ran
    on = dump_dom(tmp_path, page)
    assert "<title>virtiosim report: ok</title>" in on
    assert 'id="filters" style=""' in on
    # the page without its script (as with JavaScript off) is the same report: every
    # statement row, the verdict bar, no filters
    html = page.read_text()
    a, b = html.index("<script>"), html.index("</script>") + len("</script>")
    bare = tmp_path / "noscript.html"
    bare.write_text(html[:a] + html[b:])
    off = dump_dom(tmp_path, bare)
    assert "<title>virtiosim report</title>" in off and 'style="display:none"' in off
    assert off.count('class="st"') == on.count('class="st"') > 300
    check_picture(screenshot(tmp_path, bare, "bare"), failed=False, statement_failed=False)


def test_failed_scenario_is_red(cli, tmp_path):
    scn = write_scenario(tmp_path, "wrong.yaml", """
        name: wrong-capacity
        description: expects a capacity the reference device does not have
        device: {kind: blk, capacity: 1MiB}
        steps:
          - init
          - expect: {config: {capacity: 64}}
        """)
    out = tmp_path / "fail"
    r = cli("run", scn, "--report", out)
    assert r.returncode == 1, fmt(r)
    page = out / "report.html"
    check_picture(screenshot(tmp_path, page, "fail"), failed=True, statement_failed=False)
    v, _ = check_dom(parse(page), "virtual")
    assert v.startswith("FAIL") and "1 scenario failed" in v


@pytest.fixture
def vendor_qsd(tmp_path):
    img, sock = tmp_path / "disk.img", tmp_path / "vu.sock"
    with open(img, "wb") as f:
        f.truncate(1 << 30)
    p = subprocess.Popen(
        ["qemu-storage-daemon", "--blockdev", f"driver=file,node-name=disk0,filename={img}",
         "--export", f"type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,"
         f"addr.path={sock},writable=on,num-queues=4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while not sock.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    assert sock.exists(), p.communicate(timeout=5)
    yield sock
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=20)


def test_device_finding_is_red_in_the_headline(cli, vendor_qsd, tmp_path):
    out = tmp_path / "qsd"
    r = cli("suite", "vhost-user-backend", "--backend", f"vhost-user:{vendor_qsd}",
            "--report", out, timeout=180)
    assert r.returncode == 1, fmt(r)
    page = out / "report.html"
    check_picture(screenshot(tmp_path, page, "qsd"), failed=True, statement_failed=True)
    root = parse(page)
    v, rows = check_dom(root, "wall-clock")
    assert v.startswith("FAIL") and "1 of them device findings" in v
    # offered features decoded by name; the legacy bit the driver refused is marked
    chips = {text(s): s.get("class") for s in rows["offered features"].iter(X + "span")}
    assert chips["VIRTIO_F_NOTIFY_ON_EMPTY"] == "feat feat-off"
    assert chips["VIRTIO_F_VERSION_1"] == "feat"
    cfg = {text(tr.findall(X + "td")[0]): text(tr.findall(X + "td")[2])
           for tr in rows["config (as read)"].iter(X + "tr") if len(tr.findall(X + "td")) == 3}
    assert cfg["capacity"] == str((1 << 30) // 512)
    # the finding once, under the failures, with its evidence
    boxes = [e for e in root.iter() if e.get("id") == "generic.device.features.4"]
    assert len(boxes) == 1 and "invalid bits 0x0000000001000000" in text(boxes[0])
    device_must = next(tr for tr in by_id(root, "headline").iter(X + "tr")
                       if text(tr.find(X + "th")) == "device-role MUST")
    assert device_must.findall(X + "td")[2].get("class") == "num hl-fail"
