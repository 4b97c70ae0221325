import type { ConsumerRegistry, RegisteredConsumer } from './ConsumerRegistry.js';
import { ApiError, type SimulatorState } from './operations.js';
import type { SimulatedStream } from './SimulatedStream.js';

type Body = Record<string, unknown>;
const CONSUMER_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

/** What the consumer operations need beyond the data-plane state. */
export interface ConsumerContext {
  readonly state: SimulatorState;
  readonly registry: ConsumerRegistry;
  readonly maxConsumersPerStream: number;
  readonly maxCreatingConsumers: number;
  /** Ends the consumer's open subscriptions (it was deregistered). */
  readonly onDeregistered: (consumer: RegisteredConsumer) => void;
}

function streamByArn(state: SimulatorState, arn: unknown): SimulatedStream {
  if (typeof arn !== 'string') {
    throw new ApiError(400, 'ValidationException', "Value null at 'streamARN' failed to satisfy constraint.");
  }
  const stream = [...state.streams.values()].find((s) => s.arn === arn);
  if (!stream) {
    throw new ApiError(
      400,
      'ResourceNotFoundException',
      `Stream ${arn} under account ${state.account} not found.`,
    );
  }
  return stream;
}

/** The consumer named by `ConsumerARN`, or by `StreamARN` + `ConsumerName`. */
export function resolveConsumer(context: ConsumerContext, body: Body): RegisteredConsumer {
  const { registry, state } = context;
  let consumer: RegisteredConsumer | undefined;
  let label: string;
  if (typeof body.ConsumerARN === 'string') {
    consumer = registry.findByArn(body.ConsumerARN);
    label = body.ConsumerARN;
  } else if (typeof body.ConsumerName === 'string') {
    const stream = streamByArn(state, body.StreamARN);
    consumer = registry.find(stream.arn, body.ConsumerName);
    label = `${body.ConsumerName} under stream ${stream.arn}`;
  } else {
    throw new ApiError(
      400,
      'InvalidArgumentException',
      'Either ConsumerARN or StreamARN and ConsumerName are required.',
    );
  }
  if (!consumer) {
    throw new ApiError(
      400,
      'ResourceNotFoundException',
      `Consumer ${label} not found for account ${state.account}.`,
    );
  }
  return consumer;
}

function consumerJson(context: ConsumerContext, consumer: RegisteredConsumer): Body {
  return {
    ConsumerName: consumer.name,
    ConsumerARN: consumer.arn,
    ConsumerStatus: context.registry.status(consumer),
    ConsumerCreationTimestamp: consumer.createdAt.getTime() / 1000,
  };
}

export function registerStreamConsumer(context: ConsumerContext, body: Body): Body {
  const { registry, state } = context;
  const stream = streamByArn(state, body.StreamARN);
  const name = body.ConsumerName;
  if (typeof name !== 'string' || !CONSUMER_NAME.test(name)) {
    throw new ApiError(
      400,
      'ValidationException',
      `1 validation error detected: Value '${String(name)}' at 'consumerName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length 1..128`,
    );
  }
  const consumers = registry.of(stream.arn);
  if (consumers.some((c) => c.name === name)) {
    throw new ApiError(
      400,
      'ResourceInUseException',
      `Consumer ${name} under stream ${stream.name} already exists for account ${state.account}.`,
    );
  }
  if (consumers.filter((c) => registry.status(c) === 'CREATING').length >= context.maxCreatingConsumers) {
    throw new ApiError(
      400,
      'LimitExceededException',
      `Stream ${stream.name} under account ${state.account} has ${context.maxCreatingConsumers} consumers in CREATING status; wait until one is ACTIVE.`,
    );
  }
  if (consumers.length >= context.maxConsumersPerStream) {
    throw new ApiError(
      400,
      'LimitExceededException',
      `Stream ${stream.name} under account ${state.account} already has ${context.maxConsumersPerStream} consumers.`,
    );
  }
  return { Consumer: consumerJson(context, registry.add(stream.arn, name)) };
}

export function describeStreamConsumer(context: ConsumerContext, body: Body): Body {
  const consumer = resolveConsumer(context, body);
  return { ConsumerDescription: { ...consumerJson(context, consumer), StreamARN: consumer.streamArn } };
}

export function listStreamConsumers(context: ConsumerContext, body: Body): Body {
  const maxResults = body.MaxResults ?? 100;
  if (
    typeof maxResults !== 'number' ||
    !Number.isInteger(maxResults) ||
    maxResults < 1 ||
    maxResults > 10_000
  ) {
    throw new ApiError(400, 'ValidationException', 'MaxResults must be between 1 and 10000.');
  }
  let offset = 0;
  if (typeof body.NextToken === 'string') {
    offset = Number.parseInt(Buffer.from(body.NextToken, 'base64url').toString('utf8'), 10);
    if (!Number.isInteger(offset) || offset < 0)
      throw new ApiError(400, 'InvalidArgumentException', 'Invalid NextToken.');
  }
  const stream = streamByArn(context.state, body.StreamARN);
  const consumers = context.registry.of(stream.arn);
  const page = consumers.slice(offset, offset + maxResults);
  const next = offset + page.length;
  return {
    Consumers: page.map((c) => consumerJson(context, c)),
    ...(next < consumers.length
      ? { NextToken: Buffer.from(String(next), 'utf8').toString('base64url') }
      : {}),
  };
}

export function deregisterStreamConsumer(context: ConsumerContext, body: Body): Body {
  const consumer = resolveConsumer(context, body);
  context.registry.remove(consumer);
  context.onDeregistered(consumer);
  return {};
}
