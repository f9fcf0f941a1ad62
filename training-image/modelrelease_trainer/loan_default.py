"""A synthetic loan-default table with a known, noisy ground truth.

Borrowers have an income, a debt load, a credit history and a loan; whether they
default follows a logistic model of those (with interactions and unobserved noise),
so a good learner reaches a ROC AUC well above 0.8 but never 1.0. `shift` moves the
population (poorer, more indebted borrowers) and weakens the history signal, for
testing drift detection with a model trained on other data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PURPOSES = ["car", "debt_consolidation", "education", "home_improvement", "medical", "business"]
EMPLOYMENT = ["salaried", "self_employed", "contract", "unemployed"]
HOUSING = ["rent", "mortgage", "own"]
LABEL = "default"


def generate(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """`rows` borrowers, reproducible for a given seed."""
    rng = np.random.default_rng(seed)
    age = rng.integers(21, 70, rows)
    employment = rng.choice(EMPLOYMENT, rows, p=[0.62, 0.18, 0.14, 0.06])
    income = rng.lognormal(mean=10.9 - 0.4 * shift, sigma=0.5, size=rows)
    income = np.where(employment == "unemployed", income * 0.3, income)
    employment_years = np.clip(rng.gamma(2.0, 3.0, rows), 0, age - 18).round(1)
    employment_years = np.where(employment == "unemployed", 0.0, employment_years)
    credit_history_years = np.clip(age - 18 - rng.gamma(2.0, 2.5, rows), 0, None).round(1)
    debt_to_income = np.clip(rng.beta(2.2, 5.0 - 1.5 * shift, rows), 0, 0.95).round(3)
    open_credit_lines = rng.poisson(6 + 2 * shift, rows)
    delinquencies_2y = rng.poisson(0.3 + 0.4 * shift, rows)
    purpose = rng.choice(PURPOSES, rows, p=[0.18, 0.32, 0.1, 0.2, 0.08, 0.12])
    housing = rng.choice(HOUSING, rows, p=[0.45, 0.4, 0.15])
    loan_term_months = rng.choice([36, 60], rows, p=[0.7, 0.3])
    loan_amount = np.round(np.clip(income * rng.uniform(0.05, 0.6, rows), 1000, 250_000), -2)

    purpose_risk = (
        pd.Series(PURPOSES)
        .map(
            {
                "car": -0.2,
                "debt_consolidation": 0.3,
                "education": 0.1,
                "home_improvement": -0.3,
                "medical": 0.5,
                "business": 0.6,
            }
        )
        .to_numpy()[pd.Categorical(purpose, categories=PURPOSES).codes]
    )
    employment_risk = np.select(
        [employment == "unemployed", employment == "contract", employment == "self_employed"],
        [1.2, 0.4, 0.3],
        0.0,
    )
    loan_to_income = loan_amount / income
    history_weight = 0.08 * (1 - 0.5 * shift)
    logit = (
        -2.0
        + 4.0 * (debt_to_income - 0.3)
        + 2.5 * (loan_to_income - 0.3)
        - history_weight * credit_history_years
        + 0.7 * delinquencies_2y
        + employment_risk
        + purpose_risk
        - 0.05 * employment_years
        + 0.4 * (loan_term_months == 60)
        + 0.25 * (housing == "rent")
        - 0.6 * (np.log(income) - 10.9)
        + 3.0 * np.maximum(debt_to_income - 0.5, 0) * (delinquencies_2y > 0)
        + rng.normal(0, 0.6, rows)  # what no column explains
    )
    default = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)

    interest_rate = np.round(
        6 + 10 * debt_to_income + 1.5 * delinquencies_2y + rng.normal(0, 1.2, rows), 2
    )
    frame = pd.DataFrame(
        {
            "age": age,
            "income": income.round(0),
            "employment_type": employment,
            "employment_years": employment_years,
            "home_ownership": housing,
            "credit_history_years": credit_history_years,
            "debt_to_income": debt_to_income,
            "open_credit_lines": open_credit_lines,
            "delinquencies_2y": delinquencies_2y,
            "loan_amount": loan_amount,
            "loan_term_months": loan_term_months,
            "interest_rate": interest_rate,
            "purpose": purpose,
            LABEL: default,
        }
    )
    # Real applications leave fields blank; the learner must cope.
    missing = rng.random(rows) < 0.03
    frame.loc[missing, "employment_years"] = np.nan
    return frame
