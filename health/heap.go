package health

import "time"

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
type timerHeap = minHeap[entry]

func (e entry) before(o entry) bool { return e.due.Before(o.due) }

// minHeap is a binary min-heap of values, without container/heap's
// boxing of every value pushed and popped (an allocation per check).
type minHeap[T interface{ before(T) bool }] struct{ h []T }

func (t *minHeap[T]) len() int { return len(t.h) }
func (t *minHeap[T]) peek() T  { return t.h[0] }

func (t *minHeap[T]) push(v T) {
	t.h = append(t.h, v)
	for i := len(t.h) - 1; i > 0; {
		up := (i - 1) / 2
		if !t.h[i].before(t.h[up]) {
			break
		}
		t.h[i], t.h[up] = t.h[up], t.h[i]
		i = up
	}
}

func (t *minHeap[T]) pop() T {
	top := t.h[0]
	last := len(t.h) - 1
	t.h[0] = t.h[last]
	var zero T
	t.h[last] = zero // no reference kept
	t.h = t.h[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < last && t.h[l].before(t.h[small]) {
			small = l
		}
		if r < last && t.h[r].before(t.h[small]) {
			small = r
		}
		if small == i {
			return top
		}
		t.h[i], t.h[small] = t.h[small], t.h[i]
		i = small
	}
}
