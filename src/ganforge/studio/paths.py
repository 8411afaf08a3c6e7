"""Safe path resolution: the studio reads only files under the roots it was given (a runs folder, run folders,
checkpoint files). Client paths are '<root label>/<relative path>'; absolute paths, '..' parts and symlinks that
lead outside their root are refused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import StudioError

LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Root:
    label: str  # the first part of client paths under this root
    path: Path  # resolved folder or file


class SafeRoots:
    """The readable roots, each under a unique label; `resolve` maps a client path to a real path inside one."""

    def __init__(self, paths: list[Path]):
        self.roots: dict[str, Root] = {}
        for path in paths:
            resolved = Path(path).expanduser().resolve()
            base = LABEL_UNSAFE.sub("_", resolved.name).strip("_.") or "root"
            label, number = base, 1
            while label in self.roots:
                number += 1
                label = f"{base}-{number}"
            self.roots[label] = Root(label, resolved)

    def client_path(self, path: Path) -> str | None:
        """The client path of a real path inside a root, or None when it is outside all of them."""
        resolved = Path(path).resolve()
        for root in self.roots.values():
            if resolved == root.path:
                return root.label
            if resolved.is_relative_to(root.path):
                return f"{root.label}/{resolved.relative_to(root.path).as_posix()}"
        return None

    def resolve(self, client_path: str, what: str = "path", must_exist: bool = True) -> Path:
        """'<label>/<rel>' -> the real path, which stays inside root <label> after following symlinks."""
        if not isinstance(client_path, str) or not client_path or "\x00" in client_path or "\\" in client_path:
            raise StudioError(400, f"{what}: give a path such as 'runs/00000-demo'")
        pure = PurePosixPath(client_path)
        if pure.is_absolute() or ".." in pure.parts:
            raise StudioError(
                403,
                f"{what} {client_path!r}: only paths inside the studio's runs and checkpoints "
                f"are allowed (no absolute paths, no '..')",
            )
        label, *rest = pure.parts
        root = self.roots.get(label)
        if root is None:
            raise StudioError(404, f"{what} {client_path!r}: unknown root {label!r} (known: {', '.join(self.roots)})")
        target = root.path.joinpath(*rest).resolve()
        if target != root.path and not target.is_relative_to(root.path):
            raise StudioError(403, f"{what} {client_path!r}: leads outside the studio's runs and checkpoints")
        if must_exist and not target.exists():
            raise StudioError(404, f"{what} {client_path!r}: no such file or folder")
        return target
