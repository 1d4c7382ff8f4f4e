/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The name of the key set under loader/keys/: systemd-boot shows it in its
 * menu ("Enroll Secure Boot keys: abide"). */
#define SECUREBOOT_KEYS_NAME "abide"

/*
 * Makes a Secure Boot key hierarchy in dir, for systemd-boot's
 * secure-boot-enroll:
 *   PK.key PK.crt PK.esl  KEK.key KEK.crt KEK.esl  db.key db.crt db.esl  GUID
 *   loader/keys/abide/{PK,KEK,db}.auth
 * Keys are RSA-2048 (what every firmware takes), certificates self-signed,
 * 30 years (firmware does not check validity times). The .esl lists carry
 * one certificate each with the owner GUID in dir/GUID; PK.auth and KEK.auth
 * are signed by PK, db.auth by KEK (efitools: cert-to-efi-sig-list,
 * sign-efi-sig-list). Private keys are 0600.
 * Fails with -EEXIST, writing nothing, when any target exists; on any other
 * failure nothing is left behind either.
 */
int secureboot_keygen(const char *dir);
