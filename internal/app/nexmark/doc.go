// Package nexmark generates the Nexmark benchmark's event stream: people
// registering, auctions opening and bids arriving, in the proportions, with
// the skew and with the event-time spacing of the reference generator, so
// that Weir's Nexmark queries can be compared with published results.
//
// # The reference
//
// The model is the one of the Java generator in the nexmark/nexmark
// repository (nexmark-flink/…/generator: GeneratorConfig, NexmarkGenerator,
// model/{Person,Auction,Bid,Price,Strings}Generator, and the defaults of
// NexmarkConfiguration), which itself descends from Apache Beam's Nexmark
// (sdks/java/testing/nexmark/…/sources/generator). Where the two differ this
// package follows Beam, because Beam's choices make the stream a pure
// function of the event number:
//
//   - Event n's content comes from a random generator seeded with (seed, n)
//     alone, as Beam seeds java.util.Random with the event id; the Flink
//     fork shares one unseeded generator between events, so its streams
//     cannot be repeated or split.
//   - Event numbers and ids start at 0, as in Beam's standard config
//     (firstEventId 0, firstEventNumber 0), so event 0 is the first person
//     (id 1000) and event 1 the first auction (id 1000). The Flink fork
//     starts them at 1 and 2.
//   - Event time starts at Beam's BASE_TIME, 2015-07-15T00:00:00Z, instead
//     of the wall clock at startup.
//   - A bid's bidder is offset by FirstPersonID once, so it joins with
//     person ids; the Flink fork adds it twice (nexmark/nexmark issue #30).
//
// The generated values themselves (names, strings, prices) come from Weir's
// own random generator, so they are not the Java generator's values; their
// distributions are.
//
// # The stream
//
// Event n is a person, an auction or a bid according to n modulo the total
// proportion (1 + 3 + 46 = 50 by default): the first PersonProportion
// numbers of each group of 50 are people, the next AuctionProportion are
// auctions, the rest bids. Person and auction ids therefore follow from n
// alone, and a bid or auction refers to people and auctions near the newest
// ones: half of the bids go to the "hot" auction (the first of the newest
// batch of 100 auctions), three quarters come from the hot bidder and three
// quarters of the auctions from the hot seller (the second and first person
// of the newest batch of 100); the rest pick among the newest
// NumInFlightAuctions auctions or NumActivePeople people, plus a lead of 10
// ids not generated yet. Event n happens at BaseTime + n·1000/TPS
// milliseconds: TPS fixes how dense the stream is in event time, not how fast
// it is produced.
//
// Generator.Event computes any event from its number, so a stream can be cut
// into ranges generated in parallel (Generator.Range) and still be the same
// stream. AppendJSON writes an event as one JSON object with a single key,
// person, auction or bid, carrying the model's field names, and DecodeJSON
// (Event.UnmarshalJSON) reads it back; both do what encoding/json does,
// several times faster.
package nexmark
