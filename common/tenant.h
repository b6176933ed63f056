/*
 * tenant.h - what every binary knows of tenants: the tenant that owns the
 * jobs of a service run without keys (EH_AUTH=off) and every job made before
 * tenants existed (migration 0002).
 */
#ifndef EH_TENANT_H
#define EH_TENANT_H

#define EH_DEFAULT_TENANT_ID "00000000-0000-0000-0000-000000000000"
#define EH_DEFAULT_TENANT_NAME "default"

#endif
