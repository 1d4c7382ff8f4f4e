# Sourced by the abidectl integration tests after lib.sh: a device made of
# plain files (directory ESP, efivarfs-format directory, file partitions)
# and a stand-in for the loader's boot counting (systemd-boot semantics).
HELPER=${ABIDE_TEST_HELPERS:?}/helper-slot
GUID=4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
ENTRIES=$T/esp/loader/entries

make_device() {
        mkdir -p "$ENTRIES" "$T/efivars" "$T/health.d" "$T/etc-health.d" "$T/hooks" "$T/var"
        for s in a b; do for p in root verity verity-sig; do
                head -c 65536 /dev/urandom >"$T/$p-$s.img"
        done; done
        cat >"$T/abide.conf" <<CONF
[Paths]
ESP=$T/esp
EfiVars=$T/efivars
State=$T/var/lib/abide/state.json
VendorHealthDir=$T/health.d
HealthDir=$T/etc-health.d
RollbackHooks=$T/hooks
Cmdline=$T/cmdline
[Slots]
RootA=$T/root-a.img
VerityA=$T/verity-a.img
VeritySigA=$T/verity-sig-a.img
RootB=$T/root-b.img
VerityB=$T/verity-b.img
VeritySigB=$T/verity-sig-b.img
[Boot]
Tries=3
RebootCommand=$T/fake-reboot
[Health]
TimeoutSec=30
CheckTimeoutSec=10
[Update]
MachineIdFile=$T/machine-id
[Report]
Spool=$T/var/lib/abide/reports
CONF
        # The verbs spool reports (docs/report.md): here, never in the host's /var/lib/abide.
        echo 0123456789abcdef0123456789abcdef >"$T/machine-id"
        printf '#!/bin/sh\necho rebooted >>%s/reboots\n' "$T" >"$T/fake-reboot"
        chmod +x "$T/fake-reboot"
        echo "console=ttyS0" >"$T/cmdline"
        export ABIDE_CONF=$T/abide.conf
        # Factory state: slot a good.
        printf 'title abide 1.0 (slot a)\nversion 1.0\nsort-key abide\nlinux /abide/a/vmlinuz\ninitrd /abide/a/initrd\noptions abide.slot=a\n' \
                >"$ENTRIES/abide-a.conf"
}

# set_var NAME VALUE: efivarfs format, NV|BS|RT, UTF-16LE with the NUL.
set_var() {
        { printf '\007\000\000\000'; printf '%s\0' "$2" | iconv -f ASCII -t UTF-16LE; } >"$T/efivars/$1-$GUID"
}

# get_var NAME: the value as ASCII, empty when unset.
get_var() {
        local f=$T/efivars/$1-$GUID
        [ -e "$f" ] || return 0
        tail -c +5 "$f" | iconv -f UTF-16LE -t ASCII | tr -d '\0'
}

entry_of() { (cd "$ENTRIES" && ls abide-"$1".conf abide-"$1"+*.conf 2>/dev/null) || true; }

# loader_boot SLOT: what systemd-boot does when it starts SLOT's entry:
# counts a try (renames +L[-D] to +L-1-D+1) and sets the loader variables.
loader_boot() {
        local name new left done
        name=$(entry_of "$1")
        [ -n "$name" ] || die "loader: slot $1 has no entry"
        new=$name
        if [[ $name =~ ^abide-$1\+([0-9]+)(-([0-9]+))?\.conf$ ]]; then
                left=${BASH_REMATCH[1]}; done=${BASH_REMATCH[3]:-0}
                if [ "$left" -gt 0 ]; then
                        new="abide-$1+$((left - 1))-$((done + 1)).conf"
                        mv "$ENTRIES/$name" "$ENTRIES/$new"
                fi
        fi
        set_var LoaderEntrySelected "$name"
        set_var LoaderBootCountPath "\\loader\\entries\\$new"
        rm -f "$T/efivars/LoaderEntryOneShot-$GUID"
}

state_json() { cat "$T/var/lib/abide/state.json"; }
status_json() { "$ABIDECTL" status --json; }

# use_image_info: the running image's identity comes from $T/image.json
# (ImageInfo=; in the verified root on a device), version 1.0 at security
# version 0; running VERSION SV changes it. FVAR: the floor's EFI variable
# in the device's efivars directory (get_floor, set_floor: lib.sh).
use_image_info() {
        printf '[Paths]\nImageInfo=%s/image.json\n' "$T" >>"$T/abide.conf"
        running 1.0 0
}
running() {
        printf '{"format":1,"name":"edge","version":"%s","compatible":"x","security_version":%s,"build_id":"t"}\n' \
                "$1" "$2" >"$T/image.json"
}
FVAR=$T/efivars/$FLOOR_VAR
