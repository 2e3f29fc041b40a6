// The one place SIGINT and SIGTERM are heard: a fake signal source stands for the process.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { abortOnInterrupt, listenForInterrupts } from '../../src/app/interrupts.js';

const listeners = (source: EventEmitter) => source.listenerCount('SIGINT') + source.listenerCount('SIGTERM');

describe('interrupts', () => {
  it('the first signal stops (and says so), the second kills, and closing removes the listeners', async () => {
    const source = new EventEmitter();
    const said: string[] = [];
    const interrupts = listenForInterrupts((line) => said.push(line), source);
    expect(listeners(source)).toBe(2);
    const stopped = interrupts.stopped();

    source.emit('SIGINT', 'SIGINT');
    expect(interrupts.stop.aborted).toBe(true);
    expect(interrupts.kill.aborted).toBe(false);
    await stopped;
    expect(said).toEqual(['\nmlc-build: SIGINT: stopping the running steps (again to kill them at once)']);

    source.emit('SIGTERM', 'SIGTERM');
    expect(interrupts.kill.aborted).toBe(true);
    expect(said[1]).toBe('mlc-build: SIGTERM: killing the running steps');

    interrupts.close();
    expect(listeners(source)).toBe(0);
  });

  it('a run that ends without a signal aborts nothing and leaves no listener', () => {
    const source = new EventEmitter();
    const interrupts = listenForInterrupts(() => {}, source);
    interrupts.close();
    source.emit('SIGTERM', 'SIGTERM');
    expect(interrupts.stop.aborted).toBe(false);
    expect(listeners(source)).toBe(0);
  });

  it('abortOnInterrupt: the first signal aborts quietly and leaves that signal to its default; closing removes the rest', () => {
    const source = new EventEmitter();
    const interrupt = abortOnInterrupt(source);
    source.emit('SIGINT', 'SIGINT');
    expect(interrupt.signal.aborted).toBe(true);
    expect(source.listenerCount('SIGINT')).toBe(0);
    expect(source.listenerCount('SIGTERM')).toBe(1);
    interrupt.close();
    expect(listeners(source)).toBe(0);
  });
});
