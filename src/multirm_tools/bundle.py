"""Model bundles: one ``.safetensors`` file holding everything a prediction needs.

Inside the file:

- tensors ``model.<name>``: the network's state dict (the frozen embedding included);
  for an ensemble (format version 2, ``members`` >= 2 in the header) the
  ``EnsembleNet`` state dict, ``model.members.<i>.<name>``;
- tensors ``null.<class>``: sorted scores (probabilities) of held-out unmodified
  sites of that class's base, the null distribution for p-values;
- metadata: one JSON string under ``multirm_bundle`` with ``format``,
  ``format_version``, ``config`` (ModelConfig), ``thresholds`` (per-class G-mean
  probability cut-offs), ``provenance``, from version 2 ``members`` and, in
  version 3, ``member_classes`` (the classes each member predicts, when some
  member predicts only some of them: a specialist network); version 4 is any of these
  with another encoder than the BiLSTM (``config.architecture``, e.g. ``conv``).

Each bundle is written with the lowest version that can hold it (a single BiLSTM
network as 1, a BiLSTM ensemble whose members all predict every class as 2, a conv
network as 4), so older releases read every bundle they can and refuse the others by
their version.

safetensors stores raw arrays and a JSON header, so loading runs no pickle and
no code: safe for a Galaxy server loading users' files.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from . import __version__
from .errors import BundleError
from .model import EnsembleNet, ModelConfig, Network, build_network

FORMAT = "multirm-bundle"
# 1: one network; 2: ensembles; 3: ensembles with specialist members; 4: any architecture but bilstm
SUPPORTED_VERSIONS = (1, 2, 3, 4)
DEFAULT_BUNDLE_NAME = "multirm-default.safetensors"
#: Models shipped in the package, by the name ``--model`` also accepts: folder under models/, file,
#: what it is (for the help). ``bilstm`` is the default model's file, so a pipeline can pin it by name.
BUNDLED = {
    "default": ("default", DEFAULT_BUNDLE_NAME, "the default model"),
    "bilstm": ("default", DEFAULT_BUNDLE_NAME, "MultiRM's BiLSTM architecture, the default"),
    "conv": ("conv", "multirm-conv.safetensors",
             "dilated convolutions: scans about 35 times faster, AUCs slightly lower"),
}
METADATA_KEY = "multirm_bundle"


@dataclass
class Bundle:
    """A loaded model bundle."""

    model: Network
    null_scores: dict[str, np.ndarray]  # class -> sorted float32 scores
    thresholds: dict[str, float] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    path: str | None = None
    sha256: str | None = None

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def n_members(self) -> int:
        return len(self.model.members) if isinstance(self.model, EnsembleNet) else 1


def default_bundle_path() -> Path:
    """Path of the model shipped inside the package."""
    return bundled_path("default")


def bundled_path(name: str) -> Path:
    """Path of the shipped model ``name`` (a key of ``BUNDLED``)."""
    folder, file, _ = BUNDLED[name]
    return Path(str(resources.files("multirm_tools") / "models" / folder / file))


def resolve_bundle_path(path: str | os.PathLike | None) -> Path:
    """The file a ``--model`` value names: None is the default model; a name of ``BUNDLED`` that is
    no file here is that shipped model; anything else is a path."""
    if path is None:
        return default_bundle_path()
    if str(path) in BUNDLED and not Path(path).exists():
        return bundled_path(str(path))
    return Path(path)


#: Tensors a bundle needs for attention (and so for explanations and correlations), per network:
#: ``model.<name>``, or ``model.members.0.<name>`` in an ensemble.
ATTENTION_TENSORS = ("att_proj.weight", "att_proj.bias", "att_query")


def require_attention(path: str | os.PathLike | None, purpose: str) -> None:
    """Refuse a bundle whose tensors lack the attention weights, with a clear message.

    Read before ``load_bundle`` builds the network, so the message names what is missing;
    unreadable or foreign files pass through: ``load_bundle`` reports those.
    """
    path = resolve_bundle_path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            keys = set(fh.keys())
    except Exception:  # safetensors raises its own types for every malformed file
        return
    if not any(k.startswith("model.") for k in keys):
        return
    prefix = "model.members.0." if any(k.startswith("model.members.") for k in keys) else "model."
    missing = [prefix + k for k in ATTENTION_TENSORS if prefix + k not in keys]
    if missing:
        raise BundleError(f"{path}: the model has no attention weights ({', '.join(missing)} "
                          f"missing); {purpose} needs a MultiRM attention model")


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_bundle(path: str | os.PathLike, bundle: Bundle) -> None:
    """Write a bundle atomically (temporary name, then rename)."""
    cfg = bundle.model.config
    missing = [c for c in cfg.classes if c not in bundle.null_scores]
    if missing:
        raise ValueError(f"null scores missing for classes {missing}")
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in bundle.model.state_dict().items()}
    for cls in cfg.classes:
        tensors[f"null.{cls}"] = torch.from_numpy(np.sort(np.asarray(bundle.null_scores[cls], np.float32)))
    provenance = {"multirm_tools_version": __version__, **bundle.provenance}
    members = bundle.n_members
    if isinstance(bundle.model, EnsembleNet) and members == 1:
        raise ValueError("a one-member ensemble is a view of a larger one (EnsembleNet.subset); save that")
    member_classes = ([list(m.config.classes) for m in bundle.model.members] if members > 1 else [])
    specialists = any(tuple(c) != cfg.classes for c in member_classes)
    header = {
        "format": FORMAT,
        "format_version": (4 if cfg.architecture != "bilstm" else 3 if specialists else 2 if members > 1 else 1),
        "config": cfg.to_dict(),
        "thresholds": {k: float(v) for k, v in bundle.thresholds.items()},
        "provenance": provenance,
    }
    if members > 1:
        header["members"] = members
    if specialists:
        header["member_classes"] = member_classes
    # One metadata key: safetensors writes several keys in arbitrary order, and the same model
    # must give the same bytes (and sha256) every time it is saved.
    metadata = {METADATA_KEY: json.dumps(header, sort_keys=True)}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the temporary file is private; the bundle is not
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_bundle(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Bundle:
    """Load and validate a bundle; ``None`` loads the bundled default model, a name of ``BUNDLED`` that model.

    Raises
    ------
    BundleError
        Missing, truncated or foreign file, or a bundle of another format version.
    """
    path = resolve_bundle_path(path)
    if path.is_dir():
        raise BundleError(f"{path}: is a folder, not a model bundle file (.safetensors)")
    if not path.is_file():
        raise BundleError(f"{path}: model bundle not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except PermissionError:
        raise BundleError(f"{path}: cannot read the model bundle (permission denied)") from None
    except Exception:  # safetensors raises its own types, with its own wording, for every malformed file
        raise BundleError(f"{path}: not a readable model bundle (truncated or not a safetensors file)") from None
    try:
        header = json.loads(meta[METADATA_KEY])
    except (KeyError, json.JSONDecodeError):
        raise BundleError(f"{path}: not a multirm-tools model bundle (no {METADATA_KEY} header)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BundleError(f"{path}: not a multirm-tools model bundle")
    version = header.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise BundleError(f"{path}: bundle format version {version} is not supported by multirm-tools "
                          f"{__version__} (reads {', '.join(map(str, SUPPORTED_VERSIONS))})")
    try:
        config = ModelConfig.from_dict(header["config"])
        if config.architecture != "bilstm" and version < 4:
            raise ValueError(f"the {config.architecture} architecture needs format version 4, not {version}")
        thresholds = {k: float(v) for k, v in header.get("thresholds", {}).items()}
        provenance = header.get("provenance", {})
        state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        members = header.get("members", 1) if version >= 2 else 1
        if not isinstance(members, int) or isinstance(members, bool) or members < 1:
            raise ValueError(f"members must be a positive integer, got {members!r}")
        # Checked before building anything: a crafted header must not make us allocate N networks.
        held = len({k.split(".")[1] for k in state if k.startswith("members.")}) or 1
        if members != held:
            raise ValueError(f"the header says {members} network(s) but the file holds weights of {held}")
        member_classes = header.get("member_classes") if version >= 3 else None
        if member_classes is None:
            member_classes = [list(config.classes)] * members
        if (not isinstance(member_classes, list) or len(member_classes) != members
                or not all(isinstance(c, list) and c and len(set(c)) == len(c) and set(c) <= set(config.classes)
                           for c in member_classes)):
            raise ValueError(f"member_classes must list, for each of the {members} network(s), distinct "
                             f"classes of the model")
        model = (build_network(config) if members == 1
                 else EnsembleNet([build_network(replace(config, classes=tuple(c))) for c in member_classes],
                                  classes=config.classes))
        model.load_state_dict(state, strict=True)
        if members > 1:  # the loaded weights, not the blank networks, must agree
            model.check_members()
        nulls = {}
        for cls in config.classes:
            null = tensors[f"null.{cls}"].numpy()
            if null.ndim != 1 or null.size == 0 or not np.all(np.isfinite(null)):
                raise ValueError(f"null scores of {cls} are empty or not finite")
            nulls[cls] = np.sort(null.astype(np.float32))
    except (KeyError, ValueError, RuntimeError, TypeError, json.JSONDecodeError) as exc:
        # load_state_dict's message is a heading and then one indented line per problem: keep the first
        # problem too, joined into the one line the error rule allows.
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        msg = " ".join(lines[:2])[:300] if lines else type(exc).__name__
        raise BundleError(f"{path}: invalid model bundle: {msg}") from None
    model.eval().to(device)
    return Bundle(model=model, null_scores=nulls, thresholds=thresholds, provenance=provenance,
                  path=str(path), sha256=file_sha256(path))
