// Package model trains and evaluates pulsegate's anomaly model, the isolation
// forest of package model/iforest: Evaluate measures how well and how fast it
// separates labelled anomalies in any CSV file (ROC AUC and average precision
// over several seeds, fit and score times), so that users can check the model
// on their own data and compare it with other implementations on the same
// data sets.
package model
