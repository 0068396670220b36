// Package bench compares pulsegate's isolation forest (model/iforest) with its
// peers side by side: testing.B benchmarks against golearn's
// trees.IsolationForest in this package, and in iforest/ a script that runs
// scikit-learn, golearn and ours on the same CSV files on one core. It is a
// module of its own so that golearn and its replace directive stay out of the
// main module. See README.md for the measured table and how to rerun it.
package bench
