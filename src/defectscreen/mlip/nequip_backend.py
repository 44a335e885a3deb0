"""NequIP / Allegro (nequip >= 0.7) as a training backend, in the NequIP/SevenNet environment
(``equivariant_environment``): training runs its ``nequip-train`` CLI on a config written here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field

from defectscreen.mlip.dataset import ENERGY_KEY, FORCES_KEY
from defectscreen.mlip.equivariant_environment import equivariant_python
from defectscreen.mlip.training import TrainingSettings, run_trainer


class NequipSettings(TrainingSettings):
    """NequIP (or Allegro, ``model: allegro``) architecture and optimiser for a per-defect potential; a
    ``foundation_model`` is a NequIP checkpoint."""

    backend: Literal["nequip"] = "nequip"
    model: Literal["nequip", "allegro"] = "nequip"
    l_max: int = Field(1, ge=0)
    num_layers: int = Field(2, ge=1)
    num_features: int = Field(32, ge=4)


def _model_section(settings: NequipSettings, species: list[str]) -> dict:
    if settings.foundation_model is not None:
        return {"_target_": "nequip.model.ModelFromCheckpoint",
                "checkpoint_path": str(Path(settings.foundation_model).resolve())}
    common = {
        "seed": settings.seed, "model_dtype": "float64", "type_names": species, "r_max": settings.cutoff_angstrom,
        "l_max": settings.l_max, "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
        "per_type_energy_shifts": "${training_data_stats:per_atom_energy_mean}",
        "per_type_energy_scales": "${training_data_stats:forces_rms}",
    }
    if settings.model == "allegro":
        return {"_target_": "allegro.model.AllegroModel", **common, "num_layers": settings.num_layers,
                "num_scalar_features": settings.num_features, "num_tensor_features": settings.num_features // 2,
                "radial_chemical_embed": {"_target_": "allegro.nn.TwoBodyBesselScalarEmbed", "num_bessels": 8},
                "radial_chemical_embed_dim": settings.num_features, "scalar_embed_mlp_hidden_layers_depth": 1,
                "scalar_embed_mlp_hidden_layers_width": settings.num_features,
                "allegro_mlp_hidden_layers_depth": 1, "allegro_mlp_hidden_layers_width": 2 * settings.num_features,
                "readout_mlp_hidden_layers_depth": 1, "readout_mlp_hidden_layers_width": settings.num_features}
    return {"_target_": "nequip.model.NequIPGNNModel", **common, "parity": True, "num_layers": settings.num_layers,
            "num_features": settings.num_features, "radial_mlp_depth": 1, "radial_mlp_width": settings.num_features}


def training_config(settings: NequipSettings, train_file: Path, valid_file: Path, species: list[str]) -> dict:
    """The nequip-train (hydra) configuration for these settings and frame files."""
    transforms = [
        {"_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper", "model_type_names": species,
         "chemical_species_to_atom_type_map": {s: s for s in species}},
        {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": settings.cutoff_angstrom},
    ]
    loader = {"_target_": "torch.utils.data.DataLoader", "batch_size": settings.batch_size}
    metrics = {"_target_": "nequip.train.EnergyForceMetrics",
               "coeffs": {"per_atom_energy_rmse": settings.energy_weight, "forces_rmse": settings.forces_weight}}
    return {
        "run": ["train"],
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule", "seed": settings.seed,
            "train_file_path": str(train_file), "val_file_path": str(valid_file), "transforms": transforms,
            "key_mapping": {ENERGY_KEY: "total_energy", FORCES_KEY: "forces"},
            "train_dataloader": {**loader, "shuffle": True}, "val_dataloader": loader,
            "stats_manager": {"_target_": "nequip.data.CommonDataStatisticsManager", "type_names": species},
        },
        "trainer": {
            "_target_": "lightning.Trainer", "max_epochs": settings.max_epochs, "check_val_every_n_epoch": 1,
            "log_every_n_steps": 1, "enable_progress_bar": False,
            "callbacks": [{"_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
                           "monitor": "val0_epoch/weighted_sum", "dirpath": "${hydra:runtime.output_dir}",
                           "filename": "best", "save_top_k": 1}],
        },
        "training_module": {
            "_target_": "nequip.train.EMALightningModule",
            "loss": {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True,
                     "coeffs": {"total_energy": settings.energy_weight, "forces": settings.forces_weight}},
            "val_metrics": metrics, "train_metrics": metrics,
            "optimizer": {"_target_": "torch.optim.Adam", "lr": settings.learning_rate},
            "model": _model_section(settings, species),
        },
    }


def train_nequip(train_file: Path, valid_file: Path, settings: NequipSettings, workdir: Path,
                 species: list[str]) -> Path:
    """Train with nequip-train; returns the best checkpoint (lowest validation loss)."""
    python = equivariant_python()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(training_config(settings, train_file, valid_file, species)))
    run_dir = workdir / "run"
    command = [str(python.parent / "nequip-train"), "-cp", str(workdir), "-cn", "config", f"hydra.run.dir={run_dir}"]
    return run_trainer(command, workdir, run_dir / "best.ckpt", settings, "NequIP")
