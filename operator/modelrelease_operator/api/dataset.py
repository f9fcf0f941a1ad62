"""A ModelTraining's data set: where the table is, which columns to learn, how to split it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .bounds import URI_LENGTH
from .common import ApiModel, cel

DatasetFormat = Literal["auto", "csv", "parquet"]
#: Column names of a data set.
COLUMN_LENGTH = 256
#: What numpy and scikit-learn accept as a seed.
MAX_SEED = 2**32 - 1
#: Categories of one column: the model card and reference.json list each one.
MAX_CATEGORIES = 65536
SHA256_HEX = r"^[0-9a-f]{64}$"


class Split(ApiModel):
    """Fractions of the rows for training, early stopping, and the final evaluation."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.train + self.validation + self.test <= 1.0001 && "
                "self.train + self.validation + self.test >= 0.9999",
                "spec.dataset.split: train + validation + test must add up to 1",
            )
        )
    }

    train: float = Field(0.7, gt=0, lt=1)
    validation: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)

    @model_validator(mode="after")
    def _adds_up(self) -> Split:
        total = self.train + self.validation + self.test
        if not 0.9999 <= total <= 1.0001:
            raise ValueError("spec.dataset.split: train + validation + test must add up to 1")
        return self


class Dataset(ApiModel):
    """Where the data is and which column to learn."""

    uri: str = Field(
        min_length=1,
        max_length=URI_LENGTH,
        description=(
            "Where the table is: a path in the image or a mounted volume, file://, http(s)://, "
            "s3:// (with credentialsSecret), or a built-in data set: builtin:breast-cancer, "
            "builtin:loan-default?rows=N&seed=S."
        ),
    )
    format: DatasetFormat = Field("auto", description="csv or parquet; auto goes by the suffix.")
    label_column: str = Field(
        min_length=1, max_length=COLUMN_LENGTH, description="The column to predict."
    )
    feature_columns: list[Annotated[str, Field(min_length=1, max_length=COLUMN_LENGTH)]] | None = (
        Field(
            None,
            max_length=1024,
            description="Columns to learn from; all but the label when unset.",
        )
    )
    categorical_columns: (
        list[Annotated[str, Field(min_length=1, max_length=COLUMN_LENGTH)]] | None
    ) = Field(
        None,
        max_length=1024,
        description="The categorical feature columns; every other feature must be numbers. "
        "When unset, text columns are categorical unless most of their values are numbers "
        "(then the others are an error).",
    )
    max_categories: int = Field(
        1024,
        ge=1,
        le=MAX_CATEGORIES,
        description="The most distinct values a categorical column may have.",
    )
    sha256: str | None = Field(
        None,
        min_length=64,
        max_length=64,
        pattern=SHA256_HEX,
        description="Pin of the data: the sha256 of the file's bytes as stored (64 lowercase "
        "hex digits, as sha256sum prints; for builtin: the digest a training reports in its "
        "summary). The trainer refuses other data.",
    )
    split: Split = Field(default_factory=Split)
    seed: int = Field(42, ge=0, le=MAX_SEED, description="Seed of the split and of the learner.")
    stratify: bool = Field(True, description="Keep class shares equal across splits.")
