import { AssignerProtocol, type GroupMember, type GroupMemberAssignment, type PartitionAssigner } from 'kafkajs';

/** The protocol name every runwatch member announces: a member of an older build (round robin) cannot join the same group. */
export const SINGLE_ACTIVE_PROTOCOL = 'RunwatchSingleActive';
const VERSION = 1;
/** userData: one byte, 1 when the member holds the partitions now, then when it took them (float64 ms). */
const HOLDING = 1;

/**
 * Active/standby over one consumer group: every partition of the topic goes to one member, the
 * others get none and wait. runwatch's verdicts depend on state that spans partitions (the
 * watermark is the minimum over partitions; thread owners, active ids and user grades cross them),
 * so splitting the partitions between instances would change the verdicts; a standby instead takes
 * over the whole job, restoring the last checkpoint, when the active member leaves or dies.
 *
 * Sticky: the member that holds the partitions keeps them through rebalances (a standby joining
 * never moves them); with no holder, the member with the smallest id gets them.
 */
export function singleActiveAssigner(holdingSince: () => number | undefined): PartitionAssigner {
  return ({ cluster }) => ({
    name: SINGLE_ACTIVE_PROTOCOL,
    version: VERSION,
    protocol: ({ topics }) => ({
      name: SINGLE_ACTIVE_PROTOCOL,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData: claim(holdingSince()) }),
    }),
    assign: async ({ members, topics }) => {
      const active = chooseActive(members);
      const all: Record<string, number[]> = {};
      for (const topic of topics) all[topic] = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId).sort((a, b) => a - b);
      return members.map(
        (member): GroupMemberAssignment => ({
          memberId: member.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: VERSION, assignment: member.memberId === active ? all : {}, userData: Buffer.alloc(0) }),
        }),
      );
    },
  });
}

/** What a member announces: whether it holds the partitions, and since when. */
export function claim(holdingSinceMs: number | undefined): Buffer {
  const data = Buffer.alloc(9);
  if (holdingSinceMs === undefined) return data.subarray(0, 1);
  data[0] = HOLDING;
  data.writeDoubleBE(holdingSinceMs, 1);
  return data;
}

/**
 * The member that gets every partition: a current holder, else the smallest id. Two holders (one
 * was presumed dead, kept running, and another took over): the latest takeover wins, since the
 * other's state misses what was read after it; equal times fall back to the smallest id.
 */
export function chooseActive(members: readonly GroupMember[]): string | undefined {
  const byId = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const holders = byId.map((m) => ({ m, since: holdingSince(m.memberMetadata) })).filter((h): h is { m: GroupMember; since: number } => h.since !== undefined);
  holders.sort((a, b) => b.since - a.since); // stable: equal times keep id order
  return (holders[0]?.m ?? byId[0])?.memberId;
}

/** What another member says of itself is external input: anything but a well-formed claim counts as none. */
function holdingSince(metadata: Buffer): number | undefined {
  try {
    const data = AssignerProtocol.MemberMetadata.decode(metadata)?.userData;
    if (data?.[0] !== HOLDING) return undefined;
    const since = data.length >= 9 ? data.readDoubleBE(1) : 0;
    return Number.isFinite(since) ? since : 0;
  } catch {
    return undefined;
  }
}
