// JSON Schema of a case file (validated with ajv); cases/README.md documents each key.
export const SOCKET_OPTIONS = ['reuseaddr', 'reuseport', 'bind_address_no_port', 'euid'] as const;
export const BASE_DIMENSIONS = ['autobind_reuse', 'port_range', 'family', 'addr'] as const;

const bool = { type: 'boolean' };
const euid = { type: 'integer', minimum: 0, maximum: 65535 };
const nonEmptyList = (items: object) => ({ type: 'array', minItems: 1, items });

export const caseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'sockets', 'ops'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$' },
    title: { type: 'string', minLength: 1 },
    guests: nonEmptyList({ enum: ['c', 'ts'] }),
    sockets: {
      type: 'array', minItems: 1, maxItems: 8,
      items: {
        type: 'object', additionalProperties: false,
        properties: { reuseaddr: bool, reuseport: bool, bind_address_no_port: bool, euid },
      },
    },
    ops: {
      type: 'array', minItems: 1, maxItems: 32,
      items: { type: 'string', pattern: '^(bind s[0-7]|listen s[0-7]|close s[0-7]|connect s[0-7] d[0-7])$' },
    },
    matrix: {
      type: 'object',
      additionalProperties: false,
      patternProperties: {
        '^(s[0-7]|all)\\.(reuseaddr|reuseport|bind_address_no_port)$': nonEmptyList(bool),
        '^(s[0-7]|all)\\.euid$': nonEmptyList(euid),
      },
      properties: {
        autobind_reuse: nonEmptyList({ enum: ['absent', 0, 1] }),
        port_range: nonEmptyList({ type: 'string', pattern: '^(one-port|roomy|[0-9]{1,5}-[0-9]{1,5})$' }),
        family: nonEmptyList({ enum: ['inet', 'inet6', 'v4mapped'] }),
        addr: nonEmptyList({ enum: ['loopback', 'any'] }),
      },
    },
    selftests: nonEmptyList({ type: 'string', pattern: '^[a-z0-9_-]+/[a-z0-9_-]+$' }),
    exclude: {
      type: 'array',
      items: { type: 'object', minProperties: 1, additionalProperties: { type: ['string', 'number', 'boolean'] } },
    },
  },
} as const;
