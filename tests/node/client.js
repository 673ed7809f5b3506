// A Node.js client of Ostinato: discovers the services by reflection, loads the contract from the
// reflected descriptors, and calls Composer.DescribeMidi with a real MIDI file; then does the same
// with the contract loaded from protos/ostinato.binpb. Prints one JSON line of findings.
// Usage: node client.js HOST:PORT MIDI_FILE DESCRIPTOR_SET
'use strict';

const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { GrpcReflection } = require('grpc-js-reflection-client');

const [address, midiPath, descriptorSetPath] = process.argv.slice(2);
const loaderOptions = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

function describe(Composer, midi) {
  const client = new Composer(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.DescribeMidi({ midi }, { deadline: Date.now() + 10000 }, (error, response) => {
      client.close();
      if (error) reject(error); else resolve(response);
    });
  });
}

function describeError(Composer, midi) {
  return describe(Composer, midi).then(
    () => ({ code: 'OK' }),
    (error) => ({ code: grpc.status[error.code], details: error.details }),
  );
}

async function main() {
  const midi = fs.readFileSync(midiPath);

  // 1. Discovery: Python's grpcio-reflection serves the v1alpha API.
  const reflection = new GrpcReflection(address, grpc.credentials.createInsecure(), {}, 'v1alpha');
  const services = await reflection.listServices();
  const descriptor = await reflection.getDescriptorBySymbol('ostinato.v1.Composer');
  const reflected = descriptor.getPackageObject(loaderOptions);
  const viaReflection = await describe(reflected.ostinato.v1.Composer, midi);

  // 2. The shipped descriptor set, as a client without reflection would use it.
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(fs.readFileSync(descriptorSetPath), loaderOptions);
  const loaded = grpc.loadPackageDefinition(definition);
  const viaDescriptorSet = await describe(loaded.ostinato.v1.Composer, midi);
  const badMidi = await describeError(loaded.ostinato.v1.Composer, Buffer.from('not midi'));

  const summary = (response) => ({
    pitches: response.note_sequence.notes.map((n) => n.pitch),
    qpm: response.note_sequence.tempos.length ? response.note_sequence.tempos[0].qpm : null,
  });
  console.log(JSON.stringify({
    services,
    reflection: summary(viaReflection),
    descriptorSet: summary(viaDescriptorSet),
    badMidi,
  }));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
