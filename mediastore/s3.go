package mediastore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/convohq/convo"
)

// S3Config is how to reach an S3-compatible bucket.
type S3Config struct {
	// Endpoint is the server's URL, e.g. https://s3.eu-west-1.amazonaws.com
	// or http://127.0.0.1:9000; http:// turns TLS off.
	Endpoint  string
	Bucket    string
	AccessKey string
	// SecretKey is a secret: never logged.
	SecretKey string
	Region    string
	// Prefix is put before each medium's id in the object keys.
	Prefix string
	// PathStyle addresses the bucket in the path rather than the host name,
	// as most S3-compatible servers want.
	PathStyle bool
}

// S3 keeps media bytes as objects of a bucket, one per medium.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// NewS3 connects to the bucket (no request is made until first use).
func NewS3(c S3Config) (*S3, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("media S3 endpoint must be an http(s) URL, got %q", c.Endpoint)
	}
	if c.Bucket == "" {
		return nil, fmt.Errorf("media S3 bucket is not set")
	}
	lookup := minio.BucketLookupAuto
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       c.Region,
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("media S3 client: %w", err)
	}
	return &S3{client: client, bucket: c.Bucket, prefix: c.Prefix}, nil
}

// Name implements convo.MediaBlobs.
func (*S3) Name() string { return convo.MediaBackendS3 }

func (s *S3) key(id string) string { return s.prefix + id }

// Put implements convo.MediaBlobs.
func (s *S3) Put(ctx context.Context, id, contentType string, data []byte) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.key(id), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: contentType})
	return err
}

// Open implements convo.MediaBlobs: the object is streamed as it is read.
func (s *S3) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(id), minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	// GetObject is lazy: Stat makes the request, so a missing object fails here.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, convo.NotFound(convo.ReasonMediaNotFound, "media")
		}
		return nil, err
	}
	return obj, nil
}

// Delete implements convo.MediaBlobs.
func (s *S3) Delete(ctx context.Context, id string) error {
	return s.client.RemoveObject(ctx, s.bucket, s.key(id), minio.RemoveObjectOptions{})
}

var _ convo.MediaBlobs = (*S3)(nil)
