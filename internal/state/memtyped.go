package state

import "github.com/weirstream/weir/codec"

// The memory backend's typed tables, created by the constructors of
// tables.go for a backend with the typed capability. Each picks the table
// type that pays only for what the descriptor uses.

func newMemValue[K, N comparable, V any](b *Memory, d TableDesc[K, N, V]) (Value[K, N, V], error) {
	if d.TTL > 0 {
		t := &memValueTTL[K, N, V]{keyed: newKeyed[ck[K, N], stamped[V]](b, d.Name, d.TTL), d: d}
		if err := b.register(d.Name, kindValue, d.TTL, keyedLayout(d), t, t.load); err != nil {
			return nil, err
		}
		return t, nil
	}
	if ud, ok := any(d).(TableDesc[K, struct{}, V]); ok {
		t := &memUnitValue[K, V]{keyed: newKeyed[K, V](b, d.Name, 0), d: ud}
		if err := b.register(d.Name, kindValue, 0, keyedLayout(d), t, t.load); err != nil {
			return nil, err
		}
		// N is struct{} here, so the assertion cannot fail.
		return any(t).(Value[K, N, V]), nil
	}
	t := &memValue[K, N, V]{keyed: newKeyed[ck[K, N], V](b, d.Name, 0), d: d}
	if err := b.register(d.Name, kindValue, 0, keyedLayout(d), t, t.load); err != nil {
		return nil, err
	}
	return t, nil
}

func newMemNamespacedTable[K, N comparable, V any](b *Memory, d TableDesc[K, N, V]) (Namespaced[K, N, V], error) {
	t := newMemNamespaced(b, d)
	if err := b.register(d.Name, kindValue, 0, keyedLayout(d), t, t.load); err != nil {
		return nil, err
	}
	return t, nil
}

func newMemKeyFirstTable[K, N comparable, V any](b *Memory, d TableDesc[K, N, V]) (Namespaced[K, N, V], error) {
	t := newMemKeyFirst(b, d)
	if err := b.register(d.Name, kindValue, 0, keyedLayout(d), t, t.load); err != nil {
		return nil, err
	}
	return t, nil
}

func newMemSplitValue[LK, K, S, N comparable, V any](b *Memory, d TableDesc[LK, N, V], split func(LK) (K, S), join func(K, S) LK) (Value[LK, N, V], error) {
	t := &memSplitValue[LK, K, S, N, V]{keyed: newKeyed[K, splitRows[S, N, V]](b, d.Name, 0), d: d, split: split, join: join}
	if err := b.register(d.Name, kindValue, 0, keyedLayout(d), t, t.load); err != nil {
		return nil, err
	}
	return t, nil
}

func newMemList[K, N comparable, V any](b *Memory, d TableDesc[K, N, V]) (List[K, N, V], error) {
	t := &memList[K, N, V]{keyed: newKeyed[ck[K, N], stamped[[]V]](b, d.Name, d.TTL), d: d}
	if err := b.register(d.Name, kindList, d.TTL, keyedLayout(d), t, t.load); err != nil {
		return nil, err
	}
	return t, nil
}

func newMemMap[K, N, UK comparable, UV any](b *Memory, d MapDesc[K, N, UK, UV]) (Map[K, N, UK, UV], error) {
	t := &memMap[K, N, UK, UV]{keyed: newKeyed[ck[K, N], nested[UK, UV]](b, d.Name, d.TTL), d: d}
	if err := b.register(d.Name, kindMap, d.TTL, mapLayout(d), t, t.load); err != nil {
		return nil, err
	}
	return t, nil
}

func newMemOperatorList[T any](b *Memory, name string, mode Redistribution, c codec.Codec[T]) (OperatorList[T], error) {
	l := &memOperatorList[T]{b: b, name: name, mode: mode, c: c}
	if err := b.register(name, kindOperatorList, 0, listLayout(c), l, l.load); err != nil {
		return nil, err
	}
	return l, nil
}
