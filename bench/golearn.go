package bench

import (
	"github.com/sjwhitworth/golearn/base"
)

// GolearnGrid builds golearn's data grid from rows, with one float attribute
// per column and a constant class attribute "dummy_class" (0 on every row):
// golearn's IsolationForest feeds the class attribute in as a feature, and a
// constant one is never split on, so the forest sees only the real columns.
func GolearnGrid(rows [][]float64) *base.DenseInstances {
	inst := base.NewDenseInstances()
	d := len(rows[0])
	specs := make([]base.AttributeSpec, d)
	for j := range d {
		specs[j] = inst.AddAttribute(base.NewFloatAttribute(columnName(j)))
	}
	class := base.NewFloatAttribute("dummy_class")
	classSpec := inst.AddAttribute(class)
	if err := inst.AddClassAttribute(class); err != nil {
		panic("bench: " + err.Error()) // a fresh grid always takes it
	}
	if err := inst.Extend(len(rows)); err != nil {
		panic("bench: " + err.Error())
	}
	zero := base.PackFloatToBytes(0)
	for i, r := range rows {
		for j, v := range r {
			inst.Set(specs[j], i, base.PackFloatToBytes(v))
		}
		inst.Set(classSpec, i, zero)
	}
	return inst
}

func columnName(j int) string {
	const digits = "0123456789"
	if j < 10 {
		return "x" + digits[j:j+1]
	}
	return columnName(j/10) + digits[j%10:j%10+1]
}
