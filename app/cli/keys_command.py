"""`vcs keys`: show the client's key and the pinned server keys; forget or accept one.

vcs keys                              # fingerprints: ours and every pinned server's
vcs keys forget HOST:PORT             # the next connection pins the key anew
vcs keys accept HOST:PORT SHA256:...  # pin a fingerprint checked with the operator
"""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.display import console
from app.client.address import ServerAddress
from app.client.keyring import Keyring, server_name
from app.protocol.secure import fingerprint
from app.protocol.secure.keys import FINGERPRINT_RE


def _address(text: str) -> str:
    try:
        return server_name(ServerAddress.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fingerprint(text: str) -> str:
    if not FINGERPRINT_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "a fingerprint looks like SHA256: and 43 base64 characters, as "
            "`vcs-serve --show-fingerprint` prints it"
        )
    return text


def add_keys_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "keys",
        help="show key fingerprints; forget or accept a server's key",
        description="Encryption keys (docs/security.md): your own key pair and the server "
        "keys pinned on first use, in $XDG_CONFIG_HOME/vcs/.",
    )
    actions = p.add_subparsers(dest="keys_action", metavar="ACTION")
    forget = actions.add_parser("forget", help="drop a server's pinned key")
    forget.add_argument("address", type=_address, metavar="HOST:PORT")
    accept = actions.add_parser("accept", help="pin a server key you checked with its operator")
    accept.add_argument("address", type=_address, metavar="HOST:PORT")
    accept.add_argument("fingerprint", type=_fingerprint, metavar="SHA256:...")


def run_keys(args: argparse.Namespace, keyring: Keyring) -> int:
    if args.keys_action == "forget":
        dropped = keyring.known_servers.replace(args.address, None)
        console.print(
            f"forgot the key of {args.address}; the next connection pins it anew"
            if dropped
            else f"no key was pinned for {args.address}"
        )
        return 0
    if args.keys_action == "accept":
        keyring.known_servers.replace(args.address, args.fingerprint)
        console.print(f"pinned {args.fingerprint} for {args.address}")
        return 0
    # The listing is this command's output: stdout, plain text.
    print(f"your key  {fingerprint(keyring.client_key().public_key())}  {keyring.key_path}")
    entries = keyring.known_servers.entries()
    print(f"servers   {keyring.known_servers.path}" + ("" if entries else " (none pinned yet)"))
    for address, pinned in entries:
        print(f"  {address}  {pinned}")
    return 0
