// Who inverts a client's update, and what stands between them and it: the curious server, an observer of the
// aggregate, an eavesdropper on the client's link; with or without secure aggregation; DP added on the client
// (local: every attacker downstream sees its noise) or on the server (central: added after the server has the
// updates). The finding is about the strongest attacker the config allows unless the i2f: section names one.

import { shownSpec, type DefenceSpec } from './defenceSpec';
import type { AttackerKind, TrainingSetup } from './trainingSetup';

export interface AttackerView {
  attacker: AttackerKind;
  /** What this attacker sees, for messages and the hover. */
  sees: string;
  /** The defences on one client's contribution as this attacker receives it, in the order they are applied. */
  defences: DefenceSpec[];
  /** True when it sees nothing it could invert (an eavesdropper under secure aggregation). */
  blind?: boolean;
}

export interface ThreatModel {
  chosen: AttackerView;
  /** Why this one: the strongest the config allows, or the attacker named in the i2f: section. */
  reason: string;
  /** The other attackers, for the hover. */
  others: AttackerView[];
}

export const ATTACKER_NAMES: Record<AttackerKind, string> = {
  server: 'the curious server',
  aggregate: 'an observer of the aggregate',
  eavesdropper: "an eavesdropper on the client's link",
};

/**
 * The attackers a config allows. `clientSide` are the defences applied before the update leaves the client;
 * `central` is the server's noise expressed on one client's contribution (Flower: σ·C, since N(0, (σC/n)²) on the
 * average of n updates is N(0, (σC)²) on each one's share). Other clients' updates in an aggregate are not counted
 * as protection: colluding clients or a known population can remove them, and their mixing is not modelled.
 */
export function threatModel(setup: TrainingSetup, clientSide: DefenceSpec[], central: DefenceSpec | undefined): ThreatModel {
  const secagg = setup.secureAggregation;
  const serverNoise = central ? ', before it adds its own noise' : '';
  const server: AttackerView = {
    attacker: 'server',
    sees: secagg
      ? `sees the sum of the clients' updates (secure aggregation: '${secagg.key}')${serverNoise}; the other clients' updates are not counted as protection`
      : `receives each client's update as sent (no secure aggregation in this config)${serverNoise}`,
    defences: clientSide,
  };
  const aggregate: AttackerView = {
    attacker: 'aggregate',
    sees: central
      ? `sees the aggregate with the server's noise (${shownSpec(central.spec)} on one client's share); the other clients' updates are not counted as protection`
      : `sees the aggregate (no noise is added on the server); the other clients' updates are not counted as protection`,
    defences: central ? [...clientSide, central] : clientSide,
  };
  const eavesdropper: AttackerView = secagg
    ? { attacker: 'eavesdropper', sees: 'sees only masked shares under secure aggregation', defences: clientSide, blind: true }
    : { attacker: 'eavesdropper', sees: "reads the update on the client's link as sent, unless the link is encrypted", defences: clientSide };
  const views = [server, aggregate, eavesdropper];
  const named = setup.attacker ? views.find((v) => v.attacker === setup.attacker!.value && !v.blind) : undefined;
  const chosen = named ?? server;
  const reason = named
    ? `named in '${setup.attacker!.key}'`
    : setup.attacker
      ? `the strongest attacker this config allows ('${setup.attacker.key}' names one that sees nothing to invert)`
      : 'the strongest attacker this config allows';
  return { chosen, reason, others: views.filter((v) => v !== chosen) };
}

/** "the curious server, which receives each client's update as sent …" */
export function describeAttacker(view: AttackerView): string {
  const verb = view.attacker === 'server' ? 'which' : 'who';
  return `${ATTACKER_NAMES[view.attacker]}, ${verb} ${view.sees}`;
}
