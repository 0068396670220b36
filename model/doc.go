// Package model trains and evaluates pulsegate's anomaly model, the isolation
// forest of package model/iforest: Evaluate measures how well and how fast it
// separates labelled anomalies in any CSV file (ROC AUC and average precision
// over several seeds, fit and score times), so that users can check the model
// on their own data and compare it with other implementations on the same
// data sets. Train fits a model on the feature windows of a telemetry
// history (pkg/feature) with a recent holdout; Compare is the promotion
// check between a candidate and the current model on that holdout; Install
// and Rollback put a model in place keeping the previous one; WriteReport
// writes the training report (Markdown and PNG plots). docs/model.md
// describes them for users.
package model
