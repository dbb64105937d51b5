package health

import (
	"container/heap"
	"time"
)

// entry is a scheduled check of probe p, or a drain poll of member m
// (drain is the drain's id).
type entry struct {
	due   time.Time
	p     *probe
	m     *member
	drain uint64
}

// timerHeap orders entries by due time: one timer serves every server, so
// 1000 checks cost one goroutine and one timer, not 1000.
type timerHeap struct{ h entries }

type entries []entry

func (e entries) Len() int           { return len(e) }
func (e entries) Less(i, j int) bool { return e[i].due.Before(e[j].due) }
func (e entries) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *entries) Push(x any)        { *e = append(*e, x.(entry)) }
func (e *entries) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

func (t *timerHeap) push(e entry) { heap.Push(&t.h, e) }
func (t *timerHeap) pop() entry   { return heap.Pop(&t.h).(entry) }
func (t *timerHeap) peek() entry  { return t.h[0] }
func (t *timerHeap) len() int     { return len(t.h) }
