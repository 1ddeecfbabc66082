"""An example trainer for ``actions.retrain.trainer: monitoring_lib.example_trainer:train``.

A scikit-learn Pipeline over the spec's feature columns: numbers are imputed and scaled,
categories imputed and one-hot encoded (a category unseen in training encodes as all zeros), then
a logistic regression (classification) or a ridge regression. Deterministic: the same rows give
the same model. Write your own with the same signature to use another estimator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

if TYPE_CHECKING:
    from monitoring_lib.spec.monitor import MonitorSpec


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as strings, so a column mixing 1 and '1' or holding None encodes cleanly.

    A module-level function (not a lambda) so that the fitted pipeline pickles.
    """
    return frame.astype("string").fillna("missing").astype(object)


def preprocessor(numerical: list[str], categorical: list[str]) -> ColumnTransformer:
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categories = make_pipeline(
        FunctionTransformer(as_text, feature_names_out="one-to-one"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    return ColumnTransformer(
        [("numerical", numbers, numerical), ("categorical", categories, categorical)]
    )


def train(features: pd.DataFrame, target: pd.Series, *, spec: MonitorSpec) -> Pipeline:
    """Fit the pipeline on the spec's feature columns that ``features`` holds."""
    numerical = [column for column in spec.columns.numerical if column in features.columns]
    categorical = [column for column in spec.columns.categorical if column in features.columns]
    if not numerical and not categorical:
        raise ValueError("none of the spec's feature columns is in the training set")
    estimator = (
        Ridge(alpha=1.0) if spec.task == "regression" else LogisticRegression(max_iter=2_000, C=1.0)
    )
    pipeline = Pipeline(
        [("features", preprocessor(numerical, categorical)), ("estimator", estimator)]
    )
    return pipeline.fit(features[numerical + categorical], target)
