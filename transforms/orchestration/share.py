"""The share-IPD DAG's task body: build the de-identified package of a release (transforms.share does the work)."""
from __future__ import annotations

from pathlib import Path

from transforms.orchestration.messages import RejectedInput
from transforms.orchestration.steps import load_study_folder


def build_share_package(study_folder: str, out: Path, params: dict) -> dict:
    """Build the package the run's params ask for; a refusal (blinded release, no rule, no secret) is rejected input."""
    from transforms.share.package import read_secret, share_release
    from transforms.share.rules import ShareError

    study = load_study_folder(study_folder)
    release = Path(params["release"]) if params.get("release") else out / "current"
    try:
        result = share_release(release, Path(params["to"]), Path(params["key_out"]), study, read_secret(None))
    except ShareError as exc:
        raise RejectedInput(f"no package was written: {exc}") from None
    return {"package": str(result.package), "participants": result.participants,
            "redactions": result.redactions, "below_threshold": result.below_threshold}
