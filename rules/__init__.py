"""The codes table: the one registry of export-lint's rules.

Each entry maps a rule code to ``module:Class`` inside this package. Adding a rule is adding a
file here and a line below; the engine never changes.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from export_lint.rule import Rule

CODES: dict[str, str] = {
    "EXP001": "exp001_non_module_export_target:NonModuleExportTarget",
    "EXP002": "exp002_hf_cache_output:HfCacheOutput",
    "EXP003": "exp003_strict_tracing_hazard:StrictTracingHazard",
    "EXP104": "exp104_dynamic_dim_literal_comparison:DynamicDimLiteralComparison",
    "EXP105": "exp105_dynamic_dim_literal_reshape:DynamicDimLiteralReshape",
    "EXP106": "exp106_dynamic_dim_python_loop:DynamicDimPythonLoop",
    "EXP107": "exp107_dynamic_dim_python_cast:DynamicDimPythonCast",
    "EXP108": "exp108_dynamic_dim_rounded_slice:DynamicDimRoundedSlice",
    "EXP109": "exp109_dynamic_dim_round:DynamicDimRound",
    "EXP110": "exp110_unbounded_dim_full_slice:UnboundedDimFullSlice",
    "EXP301": "exp301_tensor_value_branch:TensorValueBranch",
    "EXP302": "exp302_data_dependent_loop:DataDependentLoop",
    "EXP303": "exp303_tensor_to_python_scalar:TensorToPythonScalar",
    "EXP304": "exp304_data_dependent_split:DataDependentSplit",
    "EXP004": "exp004_removed_capture_pre_autograd_graph:RemovedCapturePreAutogradGraph",
    "EXP005": "exp005_removed_export_constraints:RemovedExportConstraints",
    "EXP006": "exp006_removed_dynamic_dim:RemovedDynamicDim",
    "EXP007": "exp007_removed_export_for_training:RemovedExportForTraining",
    "EXP008": "exp008_unflattenable_export_output:UnflattenableExportOutput",
    "EXP101": "exp101_missing_dynamic_shapes:MissingDynamicShapes",
    "EXP102": "exp102_dim_zero_one_specialization:DimZeroOneSpecialization",
    "EXP103": "exp103_dynamic_shapes_key_mismatch:DynamicShapesKeyMismatch",
    "EXP201": "exp201_frozen_storage_mutation:FrozenStorageMutation",
    "EXP202": "exp202_non_tensor_input_baked:NonTensorInputBaked",
    "EXP203": "exp203_forward_input_mutation:ForwardInputMutation",
    "EXP204": "exp204_plain_tensor_attribute_mutation:PlainTensorAttributeMutation",
    "EXP205": "exp205_python_state_updated_in_forward:PythonStateUpdatedInForward",
    "EXP206": "exp206_global_state_updated_in_forward:GlobalStateUpdatedInForward",
    "EXP207": "exp207_attribute_created_in_forward:AttributeCreatedInForward",
    "EXP401": "exp401_numpy_on_tensor_in_forward:NumpyOnTensorInForward",
    "EXP402": "exp402_python_random_or_clock_in_forward:PythonRandomOrClockInForward",
    "EXP403": "exp403_file_io_in_forward:FileIoInForward",
    "EXP404": "exp404_scripted_submodule_in_forward:ScriptedSubmoduleInForward",
    "EXP501": "exp501_export_in_training_mode:ExportInTrainingMode",
    "EXP502": "exp502_hardcoded_cuda_device:HardcodedCudaDevice",
    "EXP503": "exp503_autocast_region_strict_export:AutocastRegionStrictExport",
    "EXP504": "exp504_autocast_region_torch_2_4:AutocastRegionTorch24",
    "EXP900": "exp900_unused_noqa:UnusedNoqa",
}


def load(code: str) -> type[Rule]:
    module_name, _, class_name = CODES[code].partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)


@functools.lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    """Every rule class, ordered by code."""
    return tuple(load(code) for code in sorted(CODES))


def by_code() -> dict[str, type[Rule]]:
    return {rule.code: rule for rule in all_rules()}
