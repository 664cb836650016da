/**
 * A decider-style aggregate: pure functions, no I/O. `decide` turns a command and the current state
 * into new events (or throws an AppError); `evolve` folds one event into the state.
 */
export interface DomainEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
}

export interface Decider<State, Command, Event extends DomainEvent> {
  initialState: State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

export function fold<State, Event extends DomainEvent>(decider: Pick<Decider<State, unknown, Event>, 'initialState' | 'evolve'>, events: Event[]): State {
  return events.reduce((s, e) => decider.evolve(s, e), decider.initialState);
}
