"""The binaries are built hardened: PIE, full RELRO (BIND_NOW), stack protector (issue 11)."""
import os
import subprocess

from conftest import BIN_DIR


def elf(args, path):
    return subprocess.run(["readelf", *args, path], capture_output=True, text=True, check=True).stdout


def test_binaries_are_pie_with_full_relro_and_stack_protector():
    for name in ("eh-api", "eh-worker"):
        path = os.path.join(BIN_DIR, name)
        assert "DYN (Position-Independent Executable file)" in elf(["-h"], path), name
        assert "GNU_RELRO" in elf(["-l", "-W"], path), name
        dynamic = elf(["-d", "-W"], path)
        assert "BIND_NOW" in dynamic or "FLAGS_1) Flags: NOW" in dynamic, name
        assert "__stack_chk_fail" in elf(["--dyn-syms", "-W"], path), name
