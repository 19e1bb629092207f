import { AssignerProtocol } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { chooseActive, claim, singleActiveAssigner, SINGLE_ACTIVE_PROTOCOL } from '../../../src/consumers/single-active-assigner.js';

const metadata = (holding: boolean | number | 'garbage'): Buffer =>
  holding === 'garbage'
    ? Buffer.from([9, 9, 9])
    : AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ['t'], userData: claim(holding === false ? undefined : holding === true ? 1_000 : holding) });

const cluster = { findTopicPartitionMetadata: (topic: string) => (topic === 't' ? [5, 0, 3, 1, 2, 4].map((partitionId) => ({ partitionId })) : []) };
// The assigner reads only findTopicPartitionMetadata from the cluster KafkaJS hands it.
const assigner = (holding: boolean) => singleActiveAssigner(() => (holding ? 1_000 : undefined))({ cluster } as unknown as Parameters<ReturnType<typeof singleActiveAssigner>>[0]);

describe('single-active assigner', () => {
  it('keeps the partitions with the member that holds them, whatever its id', () => {
    expect(chooseActive([{ memberId: 'a', memberMetadata: metadata(false) }, { memberId: 'z', memberMetadata: metadata(true) }, { memberId: 'm', memberMetadata: metadata(false) }])).toBe('z');
  });

  it('gives them to the smallest member id when nobody holds them; of two holders, to the latest takeover', () => {
    expect(chooseActive([{ memberId: 'c', memberMetadata: metadata(false) }, { memberId: 'b', memberMetadata: metadata(false) }])).toBe('b');
    expect(chooseActive([{ memberId: 'y', memberMetadata: metadata(true) }, { memberId: 'a', memberMetadata: metadata(false) }, { memberId: 'x', memberMetadata: metadata(true) }])).toBe('x');
    // A member presumed dead that kept running claims an older takeover than the one that replaced it.
    expect(chooseActive([{ memberId: 'a-zombie', memberMetadata: metadata(5_000) }, { memberId: 'b-new', memberMetadata: metadata(9_000) }])).toBe('b-new');
    expect(chooseActive([])).toBeUndefined();
  });

  it('treats metadata it cannot read as no claim', () => {
    expect(chooseActive([{ memberId: 'b', memberMetadata: metadata('garbage') }, { memberId: 'c', memberMetadata: metadata(true) }])).toBe('c');
  });

  it('assigns every partition to one member and an empty assignment to each other one', async () => {
    const result = await assigner(false).assign({ members: [{ memberId: 'm2', memberMetadata: metadata(false) }, { memberId: 'm1', memberMetadata: metadata(false) }, { memberId: 'm3', memberMetadata: metadata(true) }], topics: ['t'] });
    const decoded = Object.fromEntries(result.map((r) => [r.memberId, AssignerProtocol.MemberAssignment.decode(r.memberAssignment)?.assignment]));
    expect(decoded).toEqual({ m1: {}, m2: {}, m3: { t: [0, 1, 2, 3, 4, 5] } });
  });

  it('announces whether this member holds the partitions at each join', () => {
    for (const holding of [true, false]) {
      const announced = assigner(holding).protocol({ topics: ['t'] });
      expect(announced.name).toBe(SINGLE_ACTIVE_PROTOCOL);
      const userData = AssignerProtocol.MemberMetadata.decode(announced.metadata)?.userData;
      expect(userData?.[0]).toBe(holding ? 1 : 0);
      if (holding) expect(userData?.readDoubleBE(1)).toBe(1_000);
    }
  });
});
