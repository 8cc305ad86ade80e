/** The one mapping between the resources' camelCase fields and the config file's snake_case keys. */

/** client_id -> clientId */
export function camel(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** clientId -> client_id */
export function snake(camelCase: string): string {
  return camelCase.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Kubernetes names (DNS-1123 labels) are at most 63 characters of [a-z0-9-]. */
export function dnsLabel(text: string, max = 63): string {
  const clean = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return clean.slice(0, max).replace(/-+$/g, '');
}
