"""Early-exit inference (BranchyNet / Edgent): multi-exit models, joint training, calibration,
and the exit policy that decides, outside the traced model, where each sample stops."""

from skyline.exits.calibrate import calibrated_probs, expected_calibration_error, fit_temperature
from skyline.exits.edgent import EdgentChoice, ExitEvidence, edgent, exit_evidence
from skyline.exits.model import EarlyExitNet, ExitPrefix, fashion_exit_net, fashion_exit_net_wide
from skyline.exits.policy import ExitOutcome, choose_thresholds, exit_policy
from skyline.exits.runtime import confident_exit, exit_plan
from skyline.exits.train import evaluate, predict_logits, train_joint

__all__ = [
    "EarlyExitNet",
    "EdgentChoice",
    "ExitEvidence",
    "ExitOutcome",
    "ExitPrefix",
    "calibrated_probs",
    "choose_thresholds",
    "confident_exit",
    "edgent",
    "evaluate",
    "exit_evidence",
    "exit_plan",
    "exit_policy",
    "expected_calibration_error",
    "fashion_exit_net",
    "fashion_exit_net_wide",
    "fit_temperature",
    "predict_logits",
    "train_joint",
]
