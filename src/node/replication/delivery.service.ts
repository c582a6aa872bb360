import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { Member } from '../membership/merge.js';
import type { Entry } from '../storage/entry.js';
import { LocalStoreService } from '../storage/local-store.service.js';
import { PeerClientService } from './peer-client.service.js';

/** Sends one entry to one peer — bytes streamed from the local store unless a body is given. Used by writes, hints, repairs and sync. */
@Injectable()
export class DeliveryService {
  constructor(
    private readonly store: LocalStoreService,
    private readonly peers: PeerClientService,
  ) {}

  async send(to: Member, entry: Entry, body?: Readable | Buffer): Promise<void> {
    if (entry.deleted) {
      await this.peers.putTombstone(to.url, entry);
      return;
    }
    await this.peers.putEntry(to.url, entry, body ?? this.store.openBlob(entry.sha256, entry.size));
  }
}
